"""Deterministic text rendering of histories, tool specifications and actions.

One rule everywhere: strings are shown as they are, anything else as JSON (key order as in
the data, non-ASCII kept, no indentation). The prompts, the baseline judges and the lm-eval
and Inspect adapters all render through these functions, so a case looks the same in both
frameworks.
"""

from __future__ import annotations

import json
from typing import Any


def render_value(value: Any) -> str:
    """A string as is; any other JSON value (objects, lists, numbers, null) as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_history(history: Any) -> str:
    """The chat history up to the decision point, as a JSON list of turns."""
    return render_value(history)


def render_functions(functions: Any) -> str:
    """Tool specifications; `null` where a record has none (GTA keeps them in the system turn)."""
    return render_value(functions)


def render_action(action: Any) -> str:
    """A candidate action: a tool call object as JSON, a chat reply as its text."""
    return render_value(action)
