"""A policy model's next action at a decision point (paper: offline sampling), and when two
actions count as the same step (same tool and same key arguments after normalisation).

`read_answer` is the one reader of a policy's answer, for the build's policy and online
sampling and for the search: one tool call `{"name", "parameters"}` (JSON object or BFCL's
call syntax), a plain-text reply, or no action (`INVALID`, with the reason). Answers are
hostile input: anything that is neither call nor reply (empty, a cut-off reasoning block,
several calls, a JSON object that is not a call, arguments that are not named JSON values) is
no action, never guessed into a call or a reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from scorers.answers import answer_text
from toolprm_tasks.core.render import render_action, render_functions, render_history
from toolprm_tasks.core.tool_calls import UNREADABLE_ARGUMENTS, as_tool_calls, closing_bracket_end, readable_arguments
from toolprm_tasks.rebuild.operators import SHOULD_CALL, SHOULD_CHAT, WRONG_PARAMS, WRONG_TOOL
from toolprm_tasks.rebuild.points import DecisionPoint

CALL, REPLY, INVALID = "call", "reply", "invalid"


@dataclass(frozen=True)
class Action:
    kind: str  # CALL | REPLY | INVALID
    value: Any  # call {"name", "parameters"} (JSON values only) | reply text | the raw answer (invalid)
    why: str = ""  # INVALID: why the answer is no action

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, **({"why": self.why} if self.why else {})}

    def render(self) -> str:
        """As a judge sees it (the benchmark's rendering of an action)."""
        return render_action(self.value)

POLICY_PROMPT = (
    "You are a tool-using assistant. Decide the next action.\n"
    "## Tools: {functions}\n"
    "## History: {history}\n"
    'Answer with the next action only: a JSON object {{"name": <tool name>, "parameters": {{...}}}} to call '
    "a tool, or a plain-text reply to the user."
)


def policy_prompt(history: list[dict[str, Any]], functions: Any) -> str:
    return POLICY_PROMPT.format(functions=render_functions(functions), history=render_history(history))


def read_answer(text: str | None) -> Action:
    """A policy's answer as an action (see the module's notes). Never raises."""
    if text is not None and not isinstance(text, str):
        return Action(INVALID, "", f"answer is not text ({type(text).__name__})")
    if text is not None and not encodable(text):
        return Action(INVALID, "", "answer is not valid Unicode text (a lone surrogate)")
    answer = answer_text(text)
    if answer is None:
        return Action(INVALID, text or "", "reasoning not closed (answer cut off)" if text else "empty answer")
    if not answer:
        return Action(INVALID, text or "", "empty answer")
    calls = as_tool_calls(answer)
    if calls and len(calls) > 1:
        return Action(INVALID, text, "several calls in one answer (one action per step)")
    if calls:
        arguments = calls[0].arguments
        if UNREADABLE_ARGUMENTS in arguments:
            return Action(INVALID, text, f"call arguments are not JSON values: {arguments[UNREADABLE_ARGUMENTS]}")
        if not readable_arguments(arguments):
            return Action(INVALID, text, "call arguments are not a JSON object of named values")
        call = {"name": calls[0].name, "parameters": arguments}
        if not encodable(json.dumps(call, ensure_ascii=False)):  # "\ud800" in JSON decodes to a lone surrogate
            return Action(INVALID, text, "call holds text that is not valid Unicode (a lone surrogate)")
        return Action(CALL, call)
    if re.match(r"[\[{]", answer):
        return Action(INVALID, text, "a JSON answer that is not one tool call")
    if _only_calls(answer.strip()):
        return Action(INVALID, text, "a call written as Python that is not one call with literal arguments")
    return Action(REPLY, answer)


_CALL_OPEN = re.compile(r"[A-Za-z_][\w.]*\(")
_BETWEEN_CALLS = re.compile(r"[\s;,.\[\]]*")


def _only_calls(text: str) -> bool:
    """Whether the whole answer is Python calls and nothing else ("cd(folder='x'); ls()",
    "cd(folder=x)", "cd(**{'folder': 'x'})", an argument past Python's digit limit) that
    `as_tool_calls` could not read as one call of literal values: a call attempt gone wrong,
    never a reply (read as a reply, it matched a gold reply). Each call's brackets hold named
    arguments (`=`, `**`) or nothing, so "Done(all files moved)", "Item(s) moved (3)" and
    "ls() shows nothing" stay replies. Linear in the answer's length."""
    position, calls = _BETWEEN_CALLS.match(text).end(), 0
    while position < len(text):
        opened = _CALL_OPEN.match(text, position)
        if opened is None:
            return False
        index = closing_bracket_end(text, opened.end())
        if index is None:
            return False
        inner = text[opened.end():index - 1]
        if inner.strip() and "=" not in inner and "**" not in inner:
            return False
        calls += 1
        position = _BETWEEN_CALLS.match(text, index).end()
    return calls > 0


def encodable(text: str) -> bool:
    """Whether text can be written as UTF-8: a lone surrogate cannot, and a log, a history or
    the next prompt that holds one fails to serialise (Inspect ended the whole run)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_action(text: str | None) -> Any:
    """A model's answer as the build's action: one tool call `{"name", "parameters"}`, else the
    reply text; "" when the answer is no action (`read_answer` says why). Never raises."""
    action = read_answer(text)
    return "" if action.kind == INVALID else action.value


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
