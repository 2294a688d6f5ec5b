"""A policy model's next action at a decision point (paper: offline sampling), and when two
actions count as the same step (same tool and same key arguments after normalisation)."""

from __future__ import annotations

import json
from typing import Any

from toolprm_tasks.model_text import answer_text
from toolprm_tasks.rebuild.operators import SHOULD_CALL, SHOULD_CHAT, WRONG_PARAMS, WRONG_TOOL
from toolprm_tasks.rebuild.points import DecisionPoint, normalised
from toolprm_tasks.render import render_functions, render_history
from toolprm_tasks.tool_calls import as_tool_calls, tool_specs

POLICY_PROMPT = (
    "You are a tool-using assistant. Decide the next action.\n"
    "## Tools: {functions}\n"
    "## History: {history}\n"
    'Answer with the next action only: a JSON object {{"name": <tool name>, "parameters": {{...}}}} to call '
    "a tool, or a plain-text reply to the user."
)


def policy_prompt(history: list[dict[str, Any]], functions: Any) -> str:
    return POLICY_PROMPT.format(functions=render_functions(functions), history=render_history(history))


def parse_action(text: str | None) -> Any:
    """A model's answer as an action: one tool call `{"name", "parameters"}`, else the reply
    text (an answer cut off inside its reasoning is an empty reply). Never raises."""
    text = answer_text(text) or ""
    calls = as_tool_calls(text)
    if calls and len(calls) == 1:
        return {"name": calls[0].name, "parameters": calls[0].arguments}
    return text


def equivalent(a: Any, b: Any, functions: Any) -> bool:
    """Same step: two replies, or calls of one tool whose key (required, else all) arguments
    agree after normalising case, spacing and number types."""
    if isinstance(a, str) and isinstance(b, str):
        return True  # two replies: no rule can rank them (the judges could)
    if isinstance(a, str) != isinstance(b, str):
        return False
    if a.get("name") != b.get("name"):
        return False
    spec = (tool_specs(functions) or {}).get(a["name"], {})
    keys = spec.get("required") or sorted(set(a.get("parameters", {})) | set(b.get("parameters", {})))
    return all(normalised(a["parameters"].get(k)) == normalised(b["parameters"].get(k)) for k in keys)


def error_type_of(chosen: Any, rejected: Any) -> str:
    if isinstance(chosen, str):
        return SHOULD_CHAT
    if isinstance(rejected, str):
        return SHOULD_CALL
    return WRONG_TOOL if chosen["name"] != rejected["name"] else WRONG_PARAMS


def action_json(action: Any) -> str:
    return action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)


def proposal_prompt(point: DecisionPoint) -> str:
    return policy_prompt(point.history, point.functions)
