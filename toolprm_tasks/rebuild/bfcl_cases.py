"""Decision points from BFCL multi-turn conversations, and their execution checks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.rebuild.bfcl import Conversation, Environment, Observation, function_docs
from toolprm_tasks.rebuild.points import DecisionPoint

# BFCL has no gold text for turns where the model must not call (a missing parameter or
# function): the chosen reply says what is missing, as the category expects.
MISSING_PARAM_REPLY = "I need a bit more information before I can do that. Could you give me the missing details?"
MISSING_FUNC_REPLY = "I can't do that with the tools I have available right now."


def environment(conversation: Conversation) -> Environment:
    return Environment(conversation.involved_classes, conversation.initial_config,
                       long_context=conversation.category == "long_context")


def functions_at(conversation: Conversation, turn: int, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    withheld = set(conversation.excluded_function)
    for available_from, names in conversation.missed_function.items():
        if turn < int(available_from):
            withheld.update(names)
    return [doc for doc in docs if doc.get("name") not in withheld]


def _chat_reply(conversation: Conversation) -> str:
    return MISSING_FUNC_REPLY if conversation.category == "miss_func" else MISSING_PARAM_REPLY


def decision_points(conversation: Conversation) -> list[DecisionPoint]:
    """Every gold step of the conversation (calls, and the replies of empty gold turns), each
    with the real history: earlier user turns, gold calls and their executed observations."""
    docs = function_docs(conversation.involved_classes)
    env = environment(conversation)
    history: list[dict[str, Any]] = []
    executed: list[str] = []
    points: list[DecisionPoint] = []
    step = 0
    for turn, (messages, gold_calls) in enumerate(zip(conversation.turns, conversation.gold, strict=True)):
        history.extend({"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages)
        functions = functions_at(conversation, turn, docs)
        if not gold_calls:
            hint = next((env.keyword_call(c) for later in conversation.gold[turn + 1:] for c in later[:1]), None)
            if hint is not None and hint["name"] not in {f["name"] for f in functions}:
                hint = None
            points.append(DecisionPoint("bfcl", conversation.id, step, list(history), functions,
                                        _chat_reply(conversation), call_hint=hint, prior_calls=list(executed)))
            history.append({"role": "assistant", "content": _chat_reply(conversation)})
            step += 1
            continue
        for call_text in gold_calls:
            call = env.keyword_call(call_text)
            if call is None:
                raise ValueError(f"{conversation.id}: gold call {call_text!r} is not a plain call of this environment")
            points.append(DecisionPoint("bfcl", conversation.id, step, list(history), functions, call,
                                        prior_calls=list(executed)))
            observation = env.execute(call_text)
            executed.append(call_text)
            history.append({"role": "assistant", "content": call})
            history.append({"role": "tool", "content": observation.text})
            step += 1
    return points


def pick_point(conversation: Conversation, points: list[DecisionPoint], rng: random.Random) -> DecisionPoint:
    """One point per conversation: the reply point of a miss_* conversation half of the time
    (should-chat cases), else a seeded gold call."""
    chats = [p for p in points if p.is_chat and p.call_hint is not None]
    calls = [p for p in points if not p.is_chat]
    if chats and (not calls or rng.random() < 0.5):
        return rng.choice(chats)
    return rng.choice(calls)


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str


def run_action(env: Environment, action: Any) -> Observation | None:
    """Execute a call string or a call object; a reply (str that is not a call) runs nothing."""
    if isinstance(action, dict):
        return env.dispatch(action["name"], (), action.get("parameters") or {})
    return None


def _state_after(conversation: Conversation, prior: list[Any], action: Any) -> tuple[Observation | None, dict]:
    env = environment(conversation)
    for earlier in prior:
        # gold history: call strings; a policy's own history (online sampling): call objects
        env.execute(earlier) if isinstance(earlier, str) else run_action(env, earlier)
    return run_action(env, action), env.state()


def execution_check(conversation: Conversation, point: DecisionPoint, rejected: Any) -> CheckResult:
    """The chosen action runs from the history's state; the rejected one errors, or changes
    the state or the observation differently (a reply instead of a due call has none)."""
    chosen_obs, chosen_state = _state_after(conversation, point.prior_calls, point.gold)
    if chosen_obs is not None and not chosen_obs.ok:
        return CheckResult(False, f"chosen call fails: {chosen_obs.text[:200]}")
    rejected_obs, rejected_state = _state_after(conversation, point.prior_calls, rejected)
    if rejected_obs is None:
        return CheckResult(True, "reply where a call was due: no observation")
    if not rejected_obs.ok:
        return CheckResult(True, "rejected call errors")
    if rejected_state != chosen_state:
        return CheckResult(True, "rejected call leads to a different state")
    if chosen_obs is None:
        return CheckResult(True, "call where a reply was due: an observation the user did not ask for")
    if rejected_obs.text != chosen_obs.text:
        return CheckResult(True, "rejected call gives a different observation")
    return CheckResult(False, "rejected call has the same effect and observation as the chosen one")
