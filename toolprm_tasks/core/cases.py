"""The one normalised case type both frameworks use, and record validation.

A ToolPRMBench record (paper, section 3; reference: toolprmbench-paper.md) holds a history,
a chosen and a rejected next action and tool specifications, plus provenance fields that
differ by subset. `case_from_record` validates one record and raises `RecordError` naming
the file, the record index and the field; nothing is dropped or repaired silently.
`check_records` lists every problem of a file at once, plus warnings about records that
cannot be scored meaningfully (identical chosen and rejected actions) or look like mistakes
(duplicates, the same case with the preference reversed).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from scorers.taxonomy import ERROR_TYPE_SLUGS  # noqa: F401 - re-exported: the case's field takes these
from toolprm_tasks.core.tool_calls import as_tool_calls

SUBSETS: tuple[str, ...] = ("gta", "tooltalk", "bfcl", "toolsandbox")

_CORE_FIELDS = {"history", "action_chosen", "action_rejected", "functions"}
_CLUSTER_FIELDS = ("task", "sample_id")


class RecordError(ValueError):
    """A record that does not have the release format: names file, record index and field
    (index None: the file as a whole, e.g. no records at all)."""

    def __init__(self, source: str, index: int | None, field_name: str, problem: str) -> None:
        self.source, self.index, self.field_name, self.problem = source, index, field_name, problem
        if index is None:
            super().__init__(f"{source}: {problem}")
        else:
            super().__init__(f"{source}: record {index}: field '{field_name}': {problem}")


@dataclass(frozen=True)
class RecordWarning:
    """A record that validates but cannot be scored meaningfully or looks like a mistake."""

    source: str
    index: int
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: record {self.index}: {self.problem}"


@dataclass
class RecordCheck:
    """Every problem of a file's records (`errors`), its warnings, and the valid cases."""

    cases: list[Case]
    errors: list[RecordError]
    warnings: list[RecordWarning]


@dataclass(frozen=True)
class Case:
    """One benchmark case: a history, the chosen (correct) and the rejected next action."""

    id: str
    subset: str
    cluster: str
    history: list[dict[str, Any]]
    functions: Any
    chosen: Any
    rejected: Any
    error_type: str  # slug, see ERROR_TYPE_SLUGS
    error_type_raw: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Case:
        return cls(**json.loads(text))


def error_type_slug(raw: str | None) -> str:
    """Map a release `error type` string onto the paper's four types (or other/unlabeled)."""
    if raw is None or not raw.strip():
        return "unlabeled"
    text = re.sub(r"[^a-z]+", " ", raw.lower()).strip()
    # "should chat but called a tool" / "should call a tool but chatted": what the step should
    # have done comes right after "should" (or first, without it)
    chat = re.search(r"\b(?:chat|respond|reply|repl(?:ied|ies)|answer(?:ed)?|ask(?:ed)?)\w*", text)
    call = re.search(r"\b(?:call|use|invoke)\w*", text)
    if chat and call:
        should = re.search(r"\bshould\b", text)
        anchor = should.end() if should else 0
        after = [m for m in (chat, call) if m.start() >= anchor] or [chat, call]
        return "should_chat" if min(after, key=lambda m: m.start()) is chat else "should_call"
    if chat:
        return "should_chat"
    if "param" in text or "argument" in text or "arg" in text.split():
        return "wrong_params"
    if "tool" in text or "function" in text or "api" in text.split():
        return "wrong_tool"
    return "other"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _history_problems(source: str, index: int, history: Any) -> Iterator[RecordError]:
    if not isinstance(history, list):
        yield RecordError(source, index, "history", f"expected a list of turns, got {_type_name(history)}")
        return
    if not history:
        yield RecordError(source, index, "history", "is empty: a case needs at least the user instruction")
    for turn_index, turn in enumerate(history):
        where = f"history[{turn_index}]"
        if not isinstance(turn, dict):
            yield RecordError(source, index, where, f"expected an object, got {_type_name(turn)}")
            continue
        if not isinstance(turn.get("role"), str):
            yield RecordError(source, index, f"{where}.role", f"expected a string, got {_type_name(turn.get('role'))}")
        if "content" not in turn:
            yield RecordError(source, index, f"{where}.content", "missing")


def _action_problems(source: str, index: int, name: str, record: dict[str, Any]) -> Iterator[RecordError]:
    if name not in record:
        yield RecordError(source, index, name, "missing")
        return
    action = record[name]
    if isinstance(action, str):
        if not action.strip():
            yield RecordError(source, index, name, "is an empty string")
    elif isinstance(action, (dict, list)):
        if not action:
            yield RecordError(source, index, name, f"is an empty {_type_name(action)}")
    else:
        yield RecordError(source, index, name, f"expected a string, a JSON object or a list, got {_type_name(action)}")


def record_problems(record: Any, *, index: int, source: str) -> list[RecordError]:
    """Every problem of one release record (empty: it is valid)."""
    if not isinstance(record, dict):
        return [RecordError(source, index, "<record>", f"expected an object, got {_type_name(record)}")]
    history = [RecordError(source, index, "history", "missing")] if "history" not in record else list(
        _history_problems(source, index, record["history"]))
    problems = [*history,
                *_action_problems(source, index, "action_chosen", record),
                *_action_problems(source, index, "action_rejected", record)]
    functions = record.get("functions")
    if functions is not None and not isinstance(functions, (list, dict, str)):
        problems.append(RecordError(source, index, "functions",
                                    f"expected a list, object, string or null, got {_type_name(functions)}"))
    raw_error = record.get("error type", record.get("error_type"))
    if raw_error is not None and not isinstance(raw_error, str):
        problems.append(RecordError(source, index, "error type", f"expected a string, got {_type_name(raw_error)}"))
    problems += _unicode_problems(source, index, record)
    return problems


def _unicode_problems(source: str, index: int, record: dict[str, Any]) -> list[RecordError]:
    """Fields holding text that is not valid Unicode: JSON's `\\ud800` escape decodes to a lone
    surrogate, which no framework can carry (lm-eval's datasets and Inspect's logs fail to
    encode it and end the whole run)."""
    problems = []
    for key, value in record.items():
        try:
            json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            problems.append(RecordError(source, index, str(key).encode("utf-8", "backslashreplace").decode(),
                                        "text that is not valid Unicode (a lone surrogate such as \\ud800)"))
        except (TypeError, ValueError, RecursionError):  # other problems are reported by their own checks
            continue
    return problems


def _cluster_of(record: dict[str, Any], history: list[dict[str, Any]]) -> tuple[str, str]:
    """Cases from one task form a cluster (for standard errors): task / sample_id, else the
    user instruction (first user turn), which identifies the task in every subset."""
    for key in _CLUSTER_FIELDS:
        value = record.get(key)
        if value is not None and value != "":
            return key, render_key(value)
    first_user = next((t["content"] for t in history if t.get("role") == "user"), history[0]["content"])
    digest = hashlib.sha256(render_key(first_user).encode("utf-8")).hexdigest()[:12]
    return "instruction", f"instr-{digest}"


def render_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def case_from_record(record: Any, *, subset: str, index: int, source: str) -> Case:
    """Validate one release record and normalise it into a Case (raises its first problem)."""
    problems = record_problems(record, index=index, source=source)
    if problems:
        raise problems[0]
    history = record["history"]
    raw_error = record.get("error type", record.get("error_type"))
    cluster_key, cluster = _cluster_of(record, history)
    provenance = {k: v for k, v in record.items() if k not in _CORE_FIELDS}
    provenance["source_file"] = source
    provenance["record_index"] = index
    provenance["cluster_from"] = cluster_key
    return Case(
        id=f"{subset}-{index:04d}",
        subset=subset,
        cluster=f"{subset}/{cluster}",
        history=history,
        functions=record.get("functions"),
        chosen=record["action_chosen"],
        rejected=record["action_rejected"],
        error_type=error_type_slug(raw_error),
        error_type_raw=raw_error,
        provenance=provenance,
    )


def action_key(action: Any) -> str:
    """A canonical form of an action for comparisons: the tool calls it makes, however they
    are written (object, its JSON string, a Python call string; any key order), else the
    reply text with its spacing collapsed."""
    try:
        calls = as_tool_calls(action)
        if calls is not None:
            return "calls:" + json.dumps([[c.name, c.arguments] for c in calls], sort_keys=True,
                                         ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError, MemoryError):
        pass  # an action the call reader cannot take apart is compared as written
    if isinstance(action, str):
        return "text:" + " ".join(action.split())
    try:
        return "json:" + json.dumps(action, sort_keys=True, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        return "repr:" + repr(action)


def _context_key(case: Case) -> str:
    try:
        return json.dumps([case.history, case.functions], sort_keys=True, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        return repr([case.history, case.functions])


def record_warnings(cases: list[Case], source: str) -> list[RecordWarning]:
    """Records that validate but cannot be scored meaningfully or repeat another record."""
    warnings = []
    seen: dict[tuple[str, str, str], int] = {}
    for case in cases:
        index = case.provenance["record_index"]
        chosen, rejected = action_key(case.chosen), action_key(case.rejected)
        if chosen == rejected:
            warnings.append(RecordWarning(source, index, "chosen and rejected actions are identical (after "
                                                         "normalising): no judge can prefer one; unscorable"))
            continue
        context = _context_key(case)
        if (context, chosen, rejected) in seen:
            first = seen[(context, chosen, rejected)]
            warnings.append(RecordWarning(source, index, f"duplicate of record {first} (same history, "
                                                         "functions and actions): it counts twice"))
        elif (context, rejected, chosen) in seen:
            first = seen[(context, rejected, chosen)]
            warnings.append(RecordWarning(source, index, f"contradicts record {first}: the same case with "
                                                         "chosen and rejected swapped"))
        else:
            seen[(context, chosen, rejected)] = index
    return warnings


def check_records(records: Any, *, subset: str, source: str, skip: Collection[int] = ()) -> RecordCheck:
    """Validate a whole release file and list every problem (records in `skip` were already
    reported as unreadable) and every warning."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    if not isinstance(records, list):
        return RecordCheck([], [RecordError(source, None, "<file>",
                                            f"expected a JSON list of records, got {_type_name(records)}")], [])
    if not records:
        return RecordCheck([], [RecordError(source, None, "<file>", "no records (an empty list)")], [])
    cases, errors = [], []
    for index, record in enumerate(records):
        if index in skip:
            continue
        problems = record_problems(record, index=index, source=source)
        if problems:
            errors += problems
        else:
            cases.append(case_from_record(record, subset=subset, index=index, source=source))
    return RecordCheck(cases, errors, record_warnings(cases, source))


def cases_from_records(records: Any, *, subset: str, source: str) -> list[Case]:
    """Validate a whole release file (a JSON list, or JSON Lines already split into records);
    raise its first problem, saying how many more there are."""
    check = check_records(records, subset=subset, source=source)
    if check.errors:
        first, more = check.errors[0], len(check.errors) - 1
        if more:
            raise RecordError(first.source, first.index, first.field_name,
                              f"{first.problem} (and {more} more problems in this file; "
                              "`toolprmbench validate` lists them all)")
        raise first
    return check.cases
