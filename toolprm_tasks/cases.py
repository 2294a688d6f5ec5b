"""The one normalised case type both frameworks use, and record validation.

A ToolPRMBench record (paper, section 3; reference: toolprmbench-paper.md) holds a history,
a chosen and a rejected next action and tool specifications, plus provenance fields that
differ by subset. `case_from_record` validates one record and raises `RecordError` naming
the file, the record index and the field; nothing is dropped or repaired silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

SUBSETS: tuple[str, ...] = ("gta", "tooltalk", "bfcl", "toolsandbox")

# Paper Fig. 3 taxonomy -> metric slug (metric names are `acc_<slug>`).
ERROR_TYPE_SLUGS: tuple[str, ...] = (
    "wrong_tool",
    "wrong_params",
    "should_chat",  # should chat but called a tool
    "should_call",  # should call a tool but chatted
    "other",  # an error type string outside the taxonomy (kept raw in the case)
    "unlabeled",  # the record has no error type
)

_CORE_FIELDS = {"history", "action_chosen", "action_rejected", "functions"}
_CLUSTER_FIELDS = ("task", "sample_id")


class RecordError(ValueError):
    """A record that does not have the release format: names file, record index and field."""

    def __init__(self, source: str, index: int, field_name: str, problem: str) -> None:
        self.source, self.index, self.field_name, self.problem = source, index, field_name, problem
        super().__init__(f"{source}: record {index}: field '{field_name}': {problem}")


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
    if "chat" in text or "respond" in text or "reply" in text:
        # "should chat but called a tool" vs "should call a tool but chatted"
        first_call, first_chat = text.find("call"), text.find("chat")
        if first_call == -1:
            return "should_chat"
        return "should_chat" if first_chat < first_call else "should_call"
    if "param" in text or "argument" in text or "arg" in text.split():
        return "wrong_params"
    if "tool" in text or "function" in text or "api" in text.split():
        return "wrong_tool"
    return "other"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_history(source: str, index: int, history: Any) -> list[dict[str, Any]]:
    if not isinstance(history, list):
        raise RecordError(source, index, "history", f"expected a list of turns, got {_type_name(history)}")
    if not history:
        raise RecordError(source, index, "history", "is empty: a case needs at least the user instruction")
    for turn_index, turn in enumerate(history):
        where = f"history[{turn_index}]"
        if not isinstance(turn, dict):
            raise RecordError(source, index, where, f"expected an object, got {_type_name(turn)}")
        if not isinstance(turn.get("role"), str):
            raise RecordError(source, index, f"{where}.role", f"expected a string, got {_type_name(turn.get('role'))}")
        if "content" not in turn:
            raise RecordError(source, index, f"{where}.content", "missing")
    return history


def _check_action(source: str, index: int, name: str, record: dict[str, Any]) -> Any:
    if name not in record:
        raise RecordError(source, index, name, "missing")
    action = record[name]
    if isinstance(action, str):
        if not action.strip():
            raise RecordError(source, index, name, "is an empty string")
        return action
    if isinstance(action, (dict, list)):
        if not action:
            raise RecordError(source, index, name, f"is an empty {_type_name(action)}")
        return action
    raise RecordError(source, index, name, f"expected a string or a JSON object, got {_type_name(action)}")


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
    """Validate one release record and normalise it into a Case."""
    if not isinstance(record, dict):
        raise RecordError(source, index, "<record>", f"expected an object, got {_type_name(record)}")
    history = _check_history(source, index, record.get("history"))
    chosen = _check_action(source, index, "action_chosen", record)
    rejected = _check_action(source, index, "action_rejected", record)
    functions = record.get("functions")
    if functions is not None and not isinstance(functions, (list, dict, str)):
        raise RecordError(source, index, "functions", f"expected a list, object, string or null, got {_type_name(functions)}")
    raw_error = record.get("error type", record.get("error_type"))
    if raw_error is not None and not isinstance(raw_error, str):
        raise RecordError(source, index, "error type", f"expected a string, got {_type_name(raw_error)}")
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
        functions=functions,
        chosen=chosen,
        rejected=rejected,
        error_type=error_type_slug(raw_error),
        error_type_raw=raw_error,
        provenance=provenance,
    )


def cases_from_records(records: Any, *, subset: str, source: str) -> list[Case]:
    """Validate a whole release file (a JSON list, or JSON Lines already split into records)."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    if not isinstance(records, list):
        raise RecordError(source, -1, "<file>", f"expected a JSON list of records, got {_type_name(records)}")
    return [case_from_record(r, subset=subset, index=i, source=source) for i, r in enumerate(records)]
