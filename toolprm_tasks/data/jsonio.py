"""The project's one reader for JSON and JSON Lines data files: strict, with errors that name
the file, the record, the line and the column.

Strict means UTF-8 only and standard JSON only: NaN and Infinity are refused (other JSON
tools reject them, and a NaN never equals itself), as are structures nested deeper than the
parser can hold and integer literals longer than Python converts. Each of these is a clear
`JSONFileError`, never a bare `UnicodeDecodeError` or `RecursionError`.

`inspect_records` reads leniently instead and lists every problem it meets (for
`toolprmbench validate`, which reports everything in one run).
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MAX_LISTED = 50  # problems of one kind listed per file; the rest are counted


@dataclass(frozen=True)
class JSONProblem:
    """One problem in a data file, located as precisely as the text allows."""

    file: str
    problem: str
    record: int | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.line is not None:
            parts.append(f"line {self.line} column {self.column}")
        return ": ".join([*parts, self.problem])


class JSONFileError(ValueError):
    """A data file that cannot be read as strict JSON (or JSON Lines)."""

    def __init__(self, problem: JSONProblem, more: int = 0) -> None:
        self.problem, self.more = problem, more
        suffix = f" (and {more} more problem(s) in this file; `toolprmbench validate` lists them)" if more else ""
        super().__init__(f"{problem}{suffix}")


@dataclass
class ReadResult:
    """What a lenient read (`inspect_records`) found: the value (None if unreadable), every
    problem, and the indices of JSON Lines records that could not be read (None in the value)."""

    value: Any
    problems: list[JSONProblem] = field(default_factory=list)
    unreadable: set[int] = field(default_factory=set)


class _NonStandard(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _NonStandard(name)


_STRICT = json.JSONDecoder(parse_constant=_refuse_constant)
_LENIENT = json.JSONDecoder()

# Tokens that matter for locating things, found without parsing: strings are consumed whole,
# so brackets, commas and constants inside them are never counted. The closing quote is
# optional: an unclosed string is one token to the end of the text (else every escaped quote
# in it would start a new scan to the end: quadratic time on a hostile or truncated file).
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{},]|-?Infinity|NaN'
                    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


def _int_digit_limit() -> int | None:
    get = getattr(sys, "get_int_max_str_digits", None)  # Python 3.11+
    return get() if get is not None else None


@dataclass
class _Layout:
    """Where the records, constants, long integers and deepest point of a JSON text are."""

    text: str
    record_starts: list[int] = field(default_factory=list)  # top-level list: where each element starts
    constants: list[tuple[int, str]] = field(default_factory=list)
    long_numbers: list[tuple[int, int]] = field(default_factory=list)
    max_depth: int = 0
    max_depth_at: int = 0

    @classmethod
    def of(cls, text: str) -> _Layout:
        layout = cls(text)
        depth, top_is_list, expect_element, first = 0, False, False, True
        limit = _int_digit_limit()
        for match in _TOKEN.finditer(text):
            token, pos = match.group(), match.start()
            if first:
                top_is_list, first = token == "[", False
            if depth == 1 and top_is_list and expect_element and token != "]":
                layout.record_starts.append(pos)
                expect_element = False
            head = token[0]
            if head in "[{":
                depth += 1
                if depth > layout.max_depth:
                    layout.max_depth, layout.max_depth_at = depth, pos
                expect_element = expect_element or (depth == 1 and top_is_list)
            elif head in "]}":
                depth -= 1
            elif head == ",":
                expect_element = depth == 1 and top_is_list
            elif token in ("NaN", "Infinity", "-Infinity"):
                layout.constants.append((pos, token))
            elif (head.isdigit() or head == "-") and limit and not any(c in token for c in ".eE"):
                digits = len(token.lstrip("-"))
                if digits > limit:
                    layout.long_numbers.append((pos, digits))
        return layout

    def record_at(self, pos: int) -> int | None:
        index = bisect.bisect_right(self.record_starts, pos) - 1
        return index if index >= 0 else None


def _line_column(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _decode(raw: bytes) -> tuple[str, list[int]]:
    """The text, and the byte offsets of invalid UTF-8 (decoded as U+FFFD so reading can go on)."""
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    bad, start = [], 0
    while len(bad) <= _MAX_LISTED:
        try:
            raw[start:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            bad.append(start + exc.start)
            start += exc.end
    return raw.decode("utf-8", errors="replace"), bad


class _Text:
    """A decoded file: its text, where lines start (JSON Lines) and a lazily built layout."""

    def __init__(self, label: str, raw: bytes) -> None:
        self.label = label
        self.raw = raw
        self.text, self.bad_bytes = _decode(raw)
        self._layout: _Layout | None = None

    @property
    def layout(self) -> _Layout:
        if self._layout is None:
            self._layout = _Layout.of(self.text)
        return self._layout

    def at(self, pos: int, problem: str, record: int | None = None, base: int = 0) -> JSONProblem:
        """A problem at text position `pos` (relative to `base`, where a JSON Lines record starts)."""
        line, column = _line_column(self.text, base + pos)
        return JSONProblem(self.label, problem, record, line, column)

    def utf8_problems(self, record_of: Any) -> list[JSONProblem]:
        problems = []
        for offset in self.bad_bytes[:_MAX_LISTED]:
            pos = len(self.raw[:offset].decode("utf-8", errors="replace"))
            problems.append(self.at(pos, f"not UTF-8: byte {offset} (0x{self.raw[offset]:02x}) cannot be decoded",
                                    record_of(pos)))
        if len(self.bad_bytes) > _MAX_LISTED:
            problems.append(JSONProblem(self.label, "not UTF-8: further undecodable bytes not listed"))
        return problems


def _explain(exc: BaseException, source: _Text, chunk: str, base: int, record: int | None) -> JSONProblem:
    """Turn a parser failure on `chunk` (at `base` in the file) into a located problem."""
    layout = source.layout if base == 0 and chunk is source.text else _Layout.of(chunk)

    def where(pos: int) -> int | None:
        return record if record is not None else layout.record_at(pos)

    if isinstance(exc, _NonStandard):
        pos = next((p for p, name in layout.constants if name == exc.name), 0)
        return source.at(pos, f"non-standard JSON constant {exc.name} (JSON has no NaN or Infinity)", where(pos), base)
    if isinstance(exc, json.JSONDecodeError):
        return source.at(exc.pos, f"not valid JSON: {exc.msg}", where(exc.pos), base)
    if isinstance(exc, RecursionError):
        pos = layout.max_depth_at
        return source.at(pos, f"nested {layout.max_depth} levels deep, deeper than the JSON parser can read",
                         where(pos), base)
    if layout.long_numbers:  # ValueError from int(): Python's limit on integer digits
        pos, digits = layout.long_numbers[0]
        return source.at(pos, f"an integer with {digits} digits, more than Python reads "
                              f"({_int_digit_limit()} digits)", where(pos), base)
    return JSONProblem(source.label, f"not readable as JSON: {exc}", record)


def _parse(chunk: str, constants_ok: bool) -> Any:
    return (_LENIENT if constants_ok else _STRICT).decode(chunk)


_PARSE_ERRORS = (ValueError, RecursionError, _NonStandard)  # JSONDecodeError is a ValueError


def _constant_problems(source: _Text, layout: _Layout, base: int = 0, record: int | None = None) -> list[JSONProblem]:
    return [source.at(pos, f"non-standard JSON constant {name} (JSON has no NaN or Infinity)",
                      record if record is not None else layout.record_at(pos), base)
            for pos, name in layout.constants[:_MAX_LISTED]]


def _read_document(source: _Text, constants_ok: bool, collect: bool) -> ReadResult:
    try:
        value = _parse(source.text, constants_ok)
    except _PARSE_ERRORS as exc:
        return ReadResult(None, [_explain(exc, source, source.text, 0, None)])
    problems = _constant_problems(source, source.layout) if collect and source.layout.constants else []
    return ReadResult(value, problems)


def _read_lines(source: _Text, constants_ok: bool, collect: bool) -> ReadResult:
    result = ReadResult([])
    base, index = 0, 0
    starts: list[tuple[int, int]] = []  # (offset, record index) of every record's line
    for line in source.text.split("\n"):  # not splitlines(): U+2028 may stand inside a string
        if line.strip():
            starts.append((base, index))
            try:
                result.value.append(_parse(line, constants_ok))
                if collect and ("NaN" in line or "Infinity" in line):
                    result.problems += _constant_problems(source, _Layout.of(line), base, index)
            except _PARSE_ERRORS as exc:
                if not collect:
                    raise JSONFileError(_explain(exc, source, line, base, index)) from None
                result.problems.append(_explain(exc, source, line, base, index))
                result.value.append(None)
                result.unreadable.add(index)
            index += 1
        base += len(line) + 1

    def record_of(pos: int) -> int | None:
        i = bisect.bisect_right([s for s, _ in starts], pos) - 1
        return starts[i][1] if i >= 0 else None

    result.problems = source.utf8_problems(record_of) + result.problems
    return result


def _is_json_lines(source: _Text) -> bool:
    """JSON Lines when the text is not one JSON document but its first line is one."""
    stripped = source.text.lstrip()
    if stripped.startswith("["):
        return False  # a JSON list (a release file): its errors are reported as such
    lines = [line for line in source.text.split("\n") if line.strip()]
    if len(lines) < 2:
        return False
    try:
        _parse(source.text, True)
        return False
    except _PARSE_ERRORS:
        pass
    try:
        _parse(lines[0], True)
        return True
    except _PARSE_ERRORS:
        return False


_BOM = b"\xef\xbb\xbf"


def _read(path: Path, name: str | None, *, constants_ok: bool, collect: bool, lines: bool | None) -> ReadResult:
    return _read_bytes(path.read_bytes(), name or str(path), constants_ok=constants_ok, collect=collect, lines=lines)


def _read_bytes(raw: bytes, name: str, *, constants_ok: bool, collect: bool, lines: bool | None) -> ReadResult:
    if raw.startswith(_BOM):  # JSON text has none (RFC 8259); json's own message is "Expecting value"
        return ReadResult(None, [JSONProblem(name, "starts with a UTF-8 byte order mark (BOM), which "
                                 "JSON does not allow: save the file as UTF-8 without a BOM", None, 1, 1)])
    source = _Text(name, raw)
    if not source.text.strip():
        if lines:  # JSON Lines: an empty file is an empty list; record files must have records
            return ReadResult([])
        return ReadResult(None, [JSONProblem(source.label, "is empty: no records")])
    as_lines = _is_json_lines(source) if lines is None else lines
    if as_lines:
        return _read_lines(source, constants_ok, collect)
    result = _read_document(source, constants_ok, collect)
    result.problems = source.utf8_problems(lambda pos: source.layout.record_at(pos)) + result.problems
    return result


def _strict(path: Path, name: str | None, lines: bool | None, allow_nonstandard: bool) -> Any:
    result = _read(path, name, constants_ok=allow_nonstandard, collect=False, lines=lines)
    if result.problems:
        raise JSONFileError(result.problems[0], len(result.problems) - 1)
    return result.value


def read_json(path: Path, name: str | None = None, *, allow_nonstandard: bool = False) -> Any:
    """One strict JSON document (`name`, if given, stands for the file in messages).
    `allow_nonstandard` accepts NaN and Infinity (e.g. files lm-eval writes), nothing else."""
    return _strict(path, name, False, allow_nonstandard)


def parse_json_bytes(raw: bytes, name: str) -> Any:
    """`read_json` of bytes already read (`name` stands for them in messages): a caller that
    also hashes the file parses exactly what it hashed."""
    result = _read_bytes(raw, name, constants_ok=False, collect=False, lines=False)
    if result.problems:
        raise JSONFileError(result.problems[0], len(result.problems) - 1)
    return result.value


def read_jsonl(path: Path, name: str | None = None, *, allow_nonstandard: bool = False) -> list[Any]:
    """Strict JSON Lines: one JSON value per non-blank line."""
    return _strict(path, name, True, allow_nonstandard)


def read_records(path: Path, name: str | None = None) -> Any:
    """A release file: a JSON list (test files) or JSON Lines (training files); strict."""
    return _strict(path, name, None, False)


def inspect_records(path: Path, name: str | None = None) -> ReadResult:
    """Like `read_records`, but lenient: reads on where it can and lists every problem."""
    return _read(path, name, constants_ok=True, collect=True, lines=None)
