"""Reading text a model wrote: hostile input, read in linear time and never raising.

One place for what every reader of model output needs (the judge-answer parser, the policy
and annotator answers of the rebuild, the filtering judges' votes):
- `answer_text`: the answer after the model's reasoning (the last `</think>`, `</thinking>` or
  `</reasoning>`), or None when a reasoning block after it was never closed (the answer was
  cut off) or the output is not text;
- `json_values`: every JSON object or array written in the text, found by one linear scan of
  brace/bracket nesting; each balanced span is decoded at most once, nesting deeper than
  `MAX_JSON_DEPTH` is not decoded at all (Python's json recurses: a thousand `[` would raise
  RecursionError), so a degenerate generation costs linear time and raises nothing;
- `loads`: `json.loads` that answers None instead of raising, and refuses what standard JSON
  cannot say or says twice: NaN/Infinity, a number too large for a float (`1e999`), a key
  given twice in one object (which of the two the writer meant is a guess).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

MAX_JSON_DEPTH = 32  # deeper nesting is not an answer format any prompt here asks for
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n?|\n?```\s*$")
_OPENERS = {"{": "}", "[": "]"}
# the reasoning blocks models write before their answer (`<think>` of Qwen3/DeepSeek-R1 and
# vLLM's reasoning parsers, `<thinking>` and `<reasoning>` of prompted chat models)
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)\s*>", re.IGNORECASE)
_REASONING_OPEN = re.compile(r"<(?:think|thinking|reasoning)\s*>", re.IGNORECASE)


# Words models write when they take back what they just said ("Final answer: Action 1. No wait,
# Action 2.", "Yes. Actually, B is better."): the judge-answer parser and the filtering votes read
# retractions with the same openers.
RETRACTION_OPENER = (r"(?:wait|actually|on\s+second\s+thought|i\s+(?:(?:have\s+)?changed?|change)\s+my\s+mind|"
                     r"i\s+take\s+that\s+back|correction|scratch\s+that|i\s+mean\s*t?|(?:just\s+)?kidding|make\s+(?:that|it))")
# A condition right after a statement makes it no statement ("Action 2 would be better if the user
# had confirmed", "yes if the file exists", "Yes, unless ..."); "Yes, because if ..." gives a reason.
CONDITION_AFTER = re.compile(r"[ \t,*\"'`]*(?:only\s+)?(?:if|unless|provided|assuming|as\s+long\s+as)\b", re.IGNORECASE)


def answer_start(text: str) -> int | None:
    """Where the answer begins: after the last closing reasoning tag (0 without one); None
    when a reasoning block opened after that is never closed (the answer was cut off)."""
    start = 0
    for match in _REASONING_CLOSE.finditer(text):
        start = match.end()
    return None if _REASONING_OPEN.search(text, start) else start


def answer_text(text: str | None) -> str | None:
    """The answer after the model's reasoning (`answer_start`); None if a reasoning block was
    never closed or there is no text (None, or a value that is not a string). Surrounding
    whitespace and one wrapping code fence are removed."""
    if not isinstance(text, str):
        return None
    start = answer_start(text)
    if start is None:
        return None
    return _FENCE.sub("", text[start:].strip()).strip()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):  # `1e999` overflows to inf: a value no reader can use
        raise ValueError(f"number out of range: {token[:40]}")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # json keeps the last silently; two answers are no answer
        raise ValueError("a key given twice in one object")
    return obj


def loads(text: str) -> Any | None:
    """A JSON value, or None when `text` is not standard JSON (NaN and Infinity refused, a
    number that overflows a float, a key twice in one object) or nests deeper than
    MAX_JSON_DEPTH (every later reader of it, `==`, copy, normalising, would recurse as deep: a
    600-deep argument list once crashed a search sample)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                           object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError, TypeError):
        return None
    return None if deeper_than(value, MAX_JSON_DEPTH) else value


def deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (an explicit stack: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, tuple | set | frozenset):
            item = list(item)
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _balanced_spans(text: str) -> list[tuple[int, int, int]]:
    """(start, end, depth below it) of every balanced `{...}` / `[...]` span, in one pass.

    Double-quoted strings (with backslash escapes) are honoured inside a span, so braces in
    strings do not count; outside any span quotes mean nothing (free text has apostrophes).
    A closer that does not match the innermost opener abandons the spans opened so far.
    """
    spans: list[tuple[int, int, int]] = []
    stack: list[tuple[int, str, int]] = []  # (start, expected closer, deepest child depth)
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and stack:
            in_string = True
        elif char in _OPENERS:
            stack.append((index, _OPENERS[char], 0))
        elif char in "}]":
            if not stack or stack[-1][1] != char:
                stack.clear()
                continue
            start, _, below = stack.pop()
            spans.append((start, index + 1, below))
            if stack:
                outer = stack[-1]
                stack[-1] = (outer[0], outer[1], max(outer[2], below + 1))
    return spans


def json_spans(text: str) -> Iterator[tuple[int, int, Any]]:
    """(start, end, value) of every JSON object or array in `text`, outermost first, in order
    of appearance.

    A span that decodes is yielded whole and its inner spans are not tried again (its nested
    values are part of it); a span that does not decode is skipped and its inner spans are
    tried. Spans nesting deeper than MAX_JSON_DEPTH are never decoded. Each character is
    decoded at most MAX_JSON_DEPTH times: linear in the length of the text.
    """
    covered_until = -1
    for start, end, below in sorted(_balanced_spans(text)):
        if start < covered_until or below >= MAX_JSON_DEPTH:
            continue
        value = loads(text[start:end])
        if value is not None:
            covered_until = end
            yield start, end, value


def too_deep_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the outermost balanced JSON-like spans nesting MAX_JSON_DEPTH or deeper:
    the ones `json_spans` never decodes, so what is written in them goes unread."""
    out: list[tuple[int, int]] = []
    for start, end, below in sorted(_balanced_spans(text)):
        if below >= MAX_JSON_DEPTH and not (out and start < out[-1][1]):
            out.append((start, end))
    return out


def json_values(text: str) -> Iterator[Any]:
    """The values of `json_spans`."""
    for _, _, value in json_spans(text):
        yield value


def walk_objects(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every object inside a decoded JSON value (itself included), outer before inner."""
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(value, dict):
        yield value
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return
    for child in children:
        yield from walk_objects(child, depth + 1)
