"""A policy's answer as an action (a call, a reply, or no action), and merging equivalent ones.

The action format is the rebuild's policy prompt (`rebuild.policy`): one JSON object
`{"name", "parameters"}` for a tool call, else a plain-text reply. Answers are hostile input:
anything that is neither (empty, a cut-off reasoning block, several calls, a JSON object that
is not a call) is an `invalid` action, never guessed into a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from toolprm_tasks.model_text import answer_text
from toolprm_tasks.rebuild.policy import equivalent, parse_action
from toolprm_tasks.render import render_action
from toolprm_tasks.tool_calls import as_tool_calls

CALL, REPLY, INVALID = "call", "reply", "invalid"


@dataclass(frozen=True)
class Action:
    kind: str  # CALL | REPLY | INVALID
    value: Any  # call {"name", "parameters"} | reply text | the raw answer (invalid)
    why: str = ""  # INVALID: why the answer is no action

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, **({"why": self.why} if self.why else {})}

    def render(self) -> str:
        """As a judge sees it (the benchmark's rendering of an action)."""
        return render_action(self.value)


def parse_answer(text: str | None) -> Action:
    """One policy answer as an action (`rebuild.policy.parse_action`, plus what counts as none)."""
    answer = answer_text(text)
    if answer is None:
        return Action(INVALID, text or "", "reasoning not closed (answer cut off)" if text else "empty answer")
    if not answer:
        return Action(INVALID, text or "", "empty answer")
    action = parse_action(answer)
    if isinstance(action, dict):
        if not isinstance(action.get("parameters"), dict) or any(str(k).startswith("<") for k in action["parameters"]):
            # tool_calls marks arguments it could not read as "<...>" keys
            return Action(INVALID, text, "call arguments are not a JSON object of named values")
        return Action(CALL, {"name": action["name"], "parameters": action["parameters"]})
    calls = as_tool_calls(answer)
    if calls and len(calls) > 1:
        return Action(INVALID, text, "several calls in one answer (one action per step)")
    if re.match(r"[\[{]", answer):
        return Action(INVALID, text, "a JSON answer that is not one tool call")
    return Action(REPLY, answer)


@dataclass
class Candidate:
    """A distinct action among the step's samples, with the samples merged into it."""

    action: Action
    samples: list[int] = field(default_factory=list)  # indices into the step's samples

    @property
    def count(self) -> int:
        return len(self.samples)


def same_step(a: Action, b: Action, functions: Any) -> bool:
    """The rebuild's equivalence rule (same tool and key arguments; two replies are one step);
    invalid answers form one class of their own."""
    if a.kind != b.kind:
        return False
    if a.kind == CALL:
        return equivalent(a.value, b.value, functions)
    return True


def merge(actions: list[Action], functions: Any) -> list[Candidate]:
    """Distinct candidates in order of first appearance; each keeps the samples it merged (its
    count). The representative (the one executed) is the first sample of its class."""
    candidates: list[Candidate] = []
    for index, action in enumerate(actions):
        for candidate in candidates:
            if same_step(candidate.action, action, functions):
                candidate.samples.append(index)
                break
        else:
            candidates.append(Candidate(action, [index]))
    return candidates
