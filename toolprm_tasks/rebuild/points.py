"""Decision points: a gold step in its history, before a rejected action is made for it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DecisionPoint:
    source: str  # "bfcl" | "tooltalk" | "gta"
    source_id: str  # conversation id in the source
    step: int  # index of the gold step within the conversation
    history: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    gold: Any  # a call {"name", "parameters"} or a chat reply (str)
    # what a plausible wrong call at a chat point would be (e.g. the call that becomes right later)
    call_hint: dict[str, Any] | None = None
    # BFCL: the calls executed before this point, to rebuild its state (gold call strings, or
    # call objects of a policy's own rollout)
    prior_calls: list[Any] = field(default_factory=list)

    @property
    def is_chat(self) -> bool:
        return isinstance(self.gold, str)


_QUOTED = re.compile(r"'([^'\n]{1,80})'|\"([^\"\n]{1,80})\"")


def _walk(value: Any, out: list[Any]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _walk(v, out)
    elif isinstance(value, list):
        for v in value:
            _walk(v, out)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                _walk(json.loads(text), out)
                return
            except json.JSONDecodeError:
                pass
        out.extend(a or b for a, b in _QUOTED.findall(value))
        if len(text) <= 60:
            out.append(text)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(value)


def history_values(history: list[dict[str, Any]]) -> list[Any]:
    """Literal values the history mentions (quoted strings, observation fields, numbers), in
    order of appearance without repeats: where plausible wrong arguments come from."""
    found: list[Any] = []
    for turn in history:
        _walk(turn.get("content"), found)
    seen, unique = set(), []
    for value in found:
        key = (type(value).__name__, value)
        if key not in seen and value != "":
            seen.add(key)
            unique.append(value)
    return unique
