"""Decision points from BFCL multi-turn conversations, their selection, and execution checks.

Points of a conversation: every gold call; the end of every turn whose calls are done (the
assistant reports the results back: a reply is due); and the turns BFCL leaves without gold
calls in its miss_param and miss_func categories, where the assistant must ask for what the
user has not given, or say that no tool can do it. BFCL has no gold text for replies: they
are written for their conversation (`replies.py`). A question is written only where the
user's next turn shows what was missing (the values it gives that the next calls take); a
refusal only where no offered tool does what the withheld one does. Other turns without
calls get a plain request for details in the history, and no point.
"""

from __future__ import annotations

import copy
import functools
import random
from dataclasses import dataclass, replace
from typing import Any

from toolprm_tasks.core.grounding import HistoryText
from toolprm_tasks.core.tool_calls import tool_specs
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.envs.bfcl import Conversation, Environment, Observation, function_docs
from toolprm_tasks.rebuild import replies
from toolprm_tasks.rebuild.operators import (
    ACTION_SUBSTITUTE,
    RULES_9,
    RULES_12,
    gold_call_index,
    grounded_gold,
    missing_values,
    unseen_codes,
    user_values,
)
from toolprm_tasks.rebuild.points import DecisionPoint, json_values, turn_so_far, unique
from toolprm_tasks.rebuild.selection import Slot, select_test, select_train

_MAX_STATE_VALUES = 400  # long-context states hold thousands: the first ones in state order
# what the assistant says at a turn without calls where nothing shows what is missing
CLARIFY = "Could you tell me a bit more about what you would like me to do?"


@functools.lru_cache(maxsize=64)
def _docs(classes: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """The classes' tool specs, read once per process (every conversation of a suite shares them)."""
    return tuple(function_docs(list(classes)))


def environment(conversation: Conversation) -> Environment:
    return Environment(conversation.involved_classes, conversation.initial_config,
                       long_context=conversation.category == "long_context")


def functions_at(conversation: Conversation, turn: int, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    withheld = set(conversation.excluded_function)
    for available_from, names in conversation.missed_function.items():
        if turn < int(available_from):
            withheld.update(names)
    return [doc for doc in docs if doc.get("name") not in withheld]


def task_of(conversation: Conversation) -> str:
    """The BFCL entry a conversation is a variant of: base, long_context, miss_func and
    miss_param share their entries by index (same user requests, same gold calls), so their
    cases form one cluster."""
    return "bfcl-entry-" + conversation.id.rsplit("_", 1)[-1]


def _next_calls(calls: list[list[dict[str, Any]]], turn: int) -> list[dict[str, Any]]:
    later = next((t for t in range(turn + 1, len(calls)) if calls[t]), None)
    return calls[later] if later is not None else []


def _withheld_call(conversation: Conversation, turn: int, calls: list[list[dict[str, Any]]],
                   docs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first later call of a tool withheld at this turn and that tool's spec; (None, None)
    where an offered tool does the same (the same description: a refusal would be wrong)."""
    withheld = {n for start, names in conversation.missed_function.items() if turn < int(start) for n in names}
    hint = next((c for later in calls[turn + 1:] for c in later if c["name"] in withheld), None)
    if hint is None:
        return None, None
    spec = next((d for d in docs if d.get("name") == hint["name"]), None)
    offered = functions_at(conversation, turn, docs)
    if spec is None or any(d.get("description") == spec.get("description") for d in offered):
        return None, None
    return hint, spec


def _next_call(calls: list[list[dict[str, Any]]], turn: int) -> dict[str, Any] | None:
    return next((c for later in calls[turn + 1:] for c in later[:1]), None)


def _skipped_lookup(env: Environment, functions: list[dict[str, Any]],
                    pending: tuple[dict[str, Any], tuple[str, ...]], answer: list[dict[str, Any]],
                    history: list[dict[str, Any]], called: set[str]) -> tuple[dict[str, Any], tuple[str, ...]] | None:
    """Build 11: where the pending call takes a code that neither the history nor the user's
    answer shows, BFCL's recorded calls skipped the lookup that returns it, and what the request
    lacks is that lookup's input ("locate the nearest airport": the city), not the values of the
    call after it. That lookup: an offered tool of one string parameter that no recorded call of
    the conversation makes, that changes nothing and that, given a name the answer holds and the
    conversation had not, returns the code (tried on copies of `env`, the environment at this
    point). None where there is no such tool."""
    call, asked = pending
    codes = unseen_codes(call, asked, HistoryText.of([*history, *answer]))
    if not codes:
        return None
    seen = HistoryText.of(history)
    names = [n for n in user_values(" ".join(m["content"] for m in answer if isinstance(m.get("content"), str)))
             if isinstance(n, str) and not seen.has_value(n)]
    lookups = [(tool, param) for tool, spec in (tool_specs(functions) or {}).items() if tool not in called
               for props in [spec.get("properties")] if isinstance(props, dict) and len(props) == 1
               for param, prop in props.items() if isinstance(prop, dict) and prop.get("type") == "string"]
    before = env.state()
    for tool, param in lookups:
        for value in names:
            trial = copy.deepcopy(env)
            result = trial.dispatch(tool, (), {param: value})
            if (result.ok and trial.state_or_none() == before
                    and any(HistoryText.of(result.text).has_value(code) for code in codes)):  # as a word
                return {"name": tool, "parameters": {param: value}}, (param,)
    return None


def _user_text(messages: list[dict[str, Any]]) -> str:
    return " ".join(m.get("content", "") for m in messages if isinstance(m.get("content"), str)).casefold()


def decision_points(conversation: Conversation, seed: int = 0) -> list[DecisionPoint]:
    """Every decision point of the conversation in order, each with the real history: user
    turns, gold calls with their executed observations, and the written replies of earlier
    reply points. Reply wording is seeded per conversation and turn."""
    docs = list(_docs(tuple(conversation.involved_classes)))
    env = environment(conversation)
    calls = []
    for turn in conversation.gold:
        parsed = [env.keyword_call(text) for text in turn]
        for text, call in zip(turn, parsed, strict=True):
            if call is None:
                raise ValueError(f"{conversation.id}: gold call {text!r} is not a plain call of this environment")
        calls.append(parsed)
    called = {call["name"] for turn in calls for call in turn}
    history: list[dict[str, Any]] = []
    executed: list[str] = []
    points: list[DecisionPoint] = []

    def add(gold: Any, functions: list[dict[str, Any]], **extra: Any) -> None:
        points.append(DecisionPoint("bfcl", conversation.id, len(points), list(history), functions, gold,
                                    prior_calls=list(executed), **extra))

    for turn, messages in enumerate(conversation.turns):
        history.extend({"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages)
        functions = functions_at(conversation, turn, docs)
        rng = random.Random(seeded_key(seed, f"bfcl/{conversation.id}/{turn}/reply"))
        said = replies.user_text(history)
        if not calls[turn]:
            text = None
            if conversation.category == "miss_param":
                later = next((t for t in range(turn + 1, len(calls)) if calls[t]), None)
                answer = _user_text(conversation.turns[later]) if later is not None else ""
                hint, missing = missing_values(_next_calls(calls, turn), answer, said)
                if hint is not None and later is not None:
                    lookup = _skipped_lookup(env, functions, (hint, missing), conversation.turns[later], history,
                                             called)
                    hint, missing = lookup or (hint, missing)
                if hint is not None:
                    text = replies.ask(hint, list(missing), docs, history, rng)
                    others = tuple(c for c in _next_calls(calls, turn) if c is not hint)  # what else it takes
                    add(text, functions, call_hint=hint, reply_kind=replies.ASK, turn_calls=(hint, *others),
                        missing=missing[0], missing_params=missing)
            elif conversation.category == "miss_func":
                hint, spec = _withheld_call(conversation, turn, calls, docs)
                if hint is not None:
                    text = replies.write(replies.UNAVAILABLE, hint, docs, history, rng)
                    # the calls the request takes once the tool is back: doing those that are
                    # offered now is no mistake, so no substitute is drawn from them
                    add(text, functions, call_hint=hint, reply_kind=replies.UNAVAILABLE,
                        turn_calls=tuple(_next_calls(calls, turn)), missing=hint["name"], withheld_spec=spec)
            if text is None and conversation.category in ("miss_param", "miss_func"):
                text = CLARIFY  # nothing shows what is missing: no point, a neutral reply
            if text is not None:
                history.append({"role": "assistant", "content": text})
            continue
        first = len(points)
        observations = []
        for index, call in enumerate(calls[turn]):
            add(call, functions, turn_calls=tuple(calls[turn][index:]))
            observation = env.execute(conversation.gold[turn][index])
            observations.append(observation.text)
            executed.append(conversation.gold[turn][index])
            history.append({"role": "assistant", "content": call})
            history.append({"role": "tool", "content": observation.text})
        for index in range(first, len(points)):  # what each call point's later calls will see
            points[index] = replace(points[index], turn_observations=tuple(observations[index - first:]))
        # the turn's calls are done: the assistant reports the results before the user goes on
        text = replies.report(turn_so_far(history), docs, history, rng)
        add(text, functions, call_hint=_next_call(calls, turn), reply_kind=replies.REPORT,
            turn_calls=tuple(calls[turn]))
        history.append({"role": "assistant", "content": text})
    return points


def state_values(conversation: Conversation, point: DecisionPoint) -> tuple[Any, ...]:
    """Values the environment holds at the point (file and folder names, ids, names). No
    operator draws wrong values from them (a reader never sees the state); callers that show
    the state may use them."""
    env = environment(conversation)
    for earlier in point.prior_calls:
        env.execute(earlier) if isinstance(earlier, str) else run_action(env, earlier)
    found: list[Any] = []
    json_values(env.state(), found)
    return tuple(unique(v for v in found if not isinstance(v, str) or v.strip())[:_MAX_STATE_VALUES])


# the reasons for a reply BFCL has, scarcest first (miss_param and miss_func only ask and refuse)
REPLY_KINDS = (replies.ASK, replies.UNAVAILABLE, replies.REPORT)


def points_by_conversation(conversations: list[Conversation], seed: int) -> dict[str, list[DecisionPoint]]:
    """Every conversation's points, carrying the source's gold calls (of all conversations
    given) and build 9's rules (`operators.RULES_9`; BFCL keeps build 7's selection otherwise).
    Call points whose right call shows values the history does not (GROUNDED_GOLD) are left out."""
    all_points = {c.id: decision_points(c, seed) for c in conversations}
    pool = gold_call_index(p.gold for points in all_points.values() for p in points if not p.is_chat)
    marked = {cid: [replace(p, gold_calls=pool, rules=RULES_9 | RULES_12) for p in points] for cid, points in all_points.items()}
    return {cid: [p for p in points if grounded_gold(p)] for cid, points in marked.items()}


def select(conversations: list[Conversation], points: dict[str, list[DecisionPoint]], seed: int,
           split: str = "test") -> list[Slot]:
    """The slots of a split (`selection`): the test split one point per conversation, every
    error type a quarter of them; the training split several points per conversation."""
    if split == "train":
        return select_train(conversations, points, seed, "bfcl", lambda c: c.id, REPLY_KINDS)
    return select_test(conversations, points, seed, "bfcl", lambda c: c.id, REPLY_KINDS)


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str


def run_action(env: Environment, action: Any) -> Observation | None:
    """Execute a call string or a call object; a reply (str that is not a call) runs nothing."""
    if isinstance(action, dict):
        return env.dispatch(action["name"], (), action.get("parameters") or {})
    return None


def _state_after(conversation: Conversation, prior: list[Any], action: Any) -> tuple[Observation | None, dict | None]:
    """The observation and state after `action` from the history's state (the state None where
    calls made it too large to compare: `Environment.state_or_none`)."""
    env = environment(conversation)
    for earlier in prior:
        # gold history: call strings; a policy's own history (online sampling): call objects
        env.execute(earlier) if isinstance(earlier, str) else run_action(env, earlier)
    return run_action(env, action), env.state_or_none()


def execution_check(conversation: Conversation, point: DecisionPoint, rejected: Any) -> CheckResult:
    """The chosen action runs from the history's state; the rejected one errors, or changes
    the state or the observation differently (a reply instead of a due call has none)."""
    chosen_obs, chosen_state = _state_after(conversation, point.prior_calls, point.gold)
    if chosen_obs is not None and not chosen_obs.ok:
        return CheckResult(False, f"chosen call fails: {chosen_obs.text[:200]}")
    if chosen_state is None:  # (a policy's own history, online sampling): nothing to compare with
        return CheckResult(False, "the chosen action's state is too large to compare")
    rejected_obs, rejected_state = _state_after(conversation, point.prior_calls, rejected)
    if rejected_obs is None:
        return CheckResult(True, "reply where a call was due: no observation")
    if point.reply_kind == replies.UNAVAILABLE and ACTION_SUBSTITUTE in point.rules and rejected_state == chosen_state:
        # a call that changes nothing looks something up: a first step of the request, no mistake
        return CheckResult(False, "rejected call at a 'no tool for that' point changes nothing (a lookup)")
    if not rejected_obs.ok:
        return CheckResult(True, "rejected call errors")
    if rejected_state != chosen_state:
        return CheckResult(True, "rejected call leads to a different state")
    if chosen_obs is None:
        return CheckResult(True, "call where a reply was due: an observation the user did not ask for")
    if rejected_obs.text != chosen_obs.text:
        return CheckResult(True, "rejected call gives a different observation")
    return CheckResult(False, "rejected call has the same effect and observation as the chosen one")
