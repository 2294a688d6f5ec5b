"""Decision points from BFCL multi-turn conversations, their selection, and execution checks.

Points of a conversation: every gold call; the end of every turn whose calls are done (the
assistant reports back: a reply is due); and the turns BFCL leaves without gold calls in its
miss_param and miss_func categories (the assistant must ask for the missing parameter, or
say the tool it needs is not available). BFCL has no gold text for replies: they are written
for their conversation (`replies.py`), naming the action and what is missing.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, replace
from typing import Any

from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.envs.bfcl import Conversation, Environment, Observation, function_docs
from toolprm_tasks.rebuild import replies
from toolprm_tasks.rebuild.operators import (
    AUTH_PARAMS,
    CALL_ERROR_TYPES,
    SHOULD_CALL,
    SHOULD_CHAT,
    gold_call_index,
    needless_questions,
    suits,
)
from toolprm_tasks.rebuild.points import DecisionPoint, json_values, unique

_MAX_STATE_VALUES = 400  # long-context states hold thousands: the first ones in state order


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


def _missing_param(turn: int, calls: list[list[dict[str, Any]]], turns: list[list[dict[str, Any]]],
                   said: str) -> tuple[dict[str, Any] | None, str | None]:
    """The call the user's incomplete request needs and its missing parameter: a value the
    next user turn supplies (one nothing before mentioned first); else the next turn's last
    call and its first argument the user has not named."""
    later = next((t for t in range(turn + 1, len(calls)) if calls[t]), None)
    if later is None:
        return None, None
    answer = " ".join(m.get("content", "") for m in turns[later] if isinstance(m.get("content"), str)).casefold()
    given = [(call, name) for call in calls[later] for name, value in call["parameters"].items()
             if name not in AUTH_PARAMS and replies.mentioned(value, answer)]
    # a value new in the answer first; else one the answer repeats (the request named it in
    # another role: "juxtapose it with X" before "the file to move is X")
    for call, name in given:
        if not replies.mentioned(call["parameters"][name], said):
            return call, name
    if given:
        return given[0]
    call = calls[later][-1]
    # a flag is no thing to ask for: without a named value the reply asks for the details
    named = [n for n, v in call["parameters"].items() if n not in AUTH_PARAMS and not isinstance(v, bool)]
    return call, next((n for n in named if not replies.mentioned(call["parameters"][n], said)),
                      named[0] if named else None)


def _missing_function(conversation: Conversation, turn: int,
                      calls: list[list[dict[str, Any]]]) -> tuple[dict[str, Any] | None, str | None]:
    """The first later call of a tool withheld at this turn, and that tool."""
    withheld = {n for start, names in conversation.missed_function.items() if turn < int(start) for n in names}
    hint = next((c for later in calls[turn + 1:] for c in later if c["name"] in withheld), None)
    return hint, hint["name"] if hint else next(iter(sorted(withheld)), None)


def _next_call(calls: list[list[dict[str, Any]]], turn: int) -> dict[str, Any] | None:
    return next((c for later in calls[turn + 1:] for c in later[:1]), None)


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
            if conversation.category == "miss_param":
                hint, missing = _missing_param(turn, calls, conversation.turns, said)
                kind = replies.ASK
                text = replies.write(kind, hint, docs, history, rng, param=missing) if hint else None
            elif conversation.category == "miss_func":
                hint, missing = _missing_function(conversation, turn, calls)
                kind = replies.UNAVAILABLE
                text = replies.write(kind, hint, docs, history, rng) if hint else None
            else:  # a few base/long_context turns need no call and say nothing about why
                hint, text = None, None
            if text is not None:
                add(text, functions, call_hint=hint, reply_kind=kind, turn_calls=(hint,), missing=missing)
                history.append({"role": "assistant", "content": text})
            continue
        for index, call in enumerate(calls[turn]):
            add(call, functions, turn_calls=tuple(calls[turn][index:]))
            observation = env.execute(conversation.gold[turn][index])
            executed.append(conversation.gold[turn][index])
            history.append({"role": "assistant", "content": call})
            history.append({"role": "tool", "content": observation.text})
        # the turn's calls are done: the assistant reports back before the user goes on
        text = replies.write(replies.REPORT, calls[turn][-1], docs, history, rng)
        add(text, functions, call_hint=_next_call(calls, turn), reply_kind=replies.REPORT,
            turn_calls=tuple(calls[turn]))
        history.append({"role": "assistant", "content": text})
    return points


def state_values(conversation: Conversation, point: DecisionPoint) -> tuple[Any, ...]:
    """Values the environment holds at the point (file and folder names, ids, names): where
    plausible wrong arguments come from, besides the history."""
    env = environment(conversation)
    for earlier in point.prior_calls:
        env.execute(earlier) if isinstance(earlier, str) else run_action(env, earlier)
    found: list[Any] = []
    json_values(env.state(), found)
    return tuple(unique(v for v in found if not isinstance(v, str) or v.strip())[:_MAX_STATE_VALUES])


def _reply_kinds(points: list[DecisionPoint]) -> set[str]:
    return {p.reply_kind for p in points if p.is_chat and p.reply_kind}



def select(conversations: list[Conversation], seed: int) -> list[tuple[Conversation, DecisionPoint, str]]:
    """One point per conversation and the error type to make for it, with every type a
    quarter of the cases: reply points (should chat) split evenly between the three reasons
    (report: any conversation, ask: miss_param, unavailable: miss_func), the rest dealt the
    three call-point types in turn. Replies are thereby balanced against calls, so a rule that
    prefers the call gains nothing. Points carry the source's gold calls and the state values."""
    all_points = {c.id: decision_points(c, seed) for c in conversations}
    pool = gold_call_index(p.gold for points in all_points.values() for p in points if not p.is_chat)
    all_points = {cid: [replace(p, gold_calls=pool) for p in points] for cid, points in all_points.items()}
    rng = random.Random(seeded_key(seed, "bfcl/select"))
    chats = len(conversations) // 4
    quota = {replies.ASK: chats // 3, replies.UNAVAILABLE: chats // 3}
    quota[replies.REPORT] = chats - 2 * (chats // 3)
    label: dict[str, str] = {}
    for kind in (replies.ASK, replies.UNAVAILABLE, replies.REPORT):
        eligible = [c.id for c in conversations if c.id not in label and kind in _reply_kinds(all_points[c.id])]
        # reports come from base and long_context first: miss_* conversations have their own reasons
        eligible.sort(key=lambda cid: ("miss_" in cid) if kind == replies.REPORT else False)
        head = [cid for cid in eligible if kind != replies.REPORT or "miss_" not in cid]
        tail = [cid for cid in eligible if cid not in set(head)]
        rng.shuffle(head)
        rng.shuffle(tail)
        for cid in (head + tail)[:quota[kind]]:
            label[cid] = kind
    rest = [c.id for c in conversations if c.id not in label]
    rng.shuffle(rest)
    for i, cid in enumerate(rest):
        label[cid] = CALL_ERROR_TYPES[i % len(CALL_ERROR_TYPES)]
    chosen = []
    for conversation in conversations:
        points, wanted = all_points[conversation.id], label[conversation.id]
        pick = random.Random(seeded_key(seed, f"bfcl/{conversation.id}"))
        if wanted in replies.INTENTS:
            options, error_type = [p for p in points if p.is_chat and p.reply_kind == wanted], SHOULD_CHAT
        else:
            calls = [p for p in points if not p.is_chat]
            options, error_type = [p for p in calls if suits(p, wanted)] or calls, wanted
        if not options:
            continue
        point = options[pick.randrange(len(options))]
        point = replace(point, state_values=state_values(conversation, point))
        chosen.append((conversation, point, error_type))
    return _deal_intents(chosen, rng)


def _deal_intents(chosen: list[tuple[Conversation, DecisionPoint, str]],
                  rng: random.Random) -> list[tuple[Conversation, DecisionPoint, str]]:
    """Give should-call points the intents of their wrong replies in the proportions of the
    reply points' kinds (a report, a question, a refusal on both sides), questions first to
    the points where one can be asked."""
    wanted = [p.reply_kind for _, p, e in chosen if e == SHOULD_CHAT and p.reply_kind in replies.INTENTS]
    slots = [i for i, (_, _, e) in enumerate(chosen) if e == SHOULD_CALL]
    if not wanted or not slots:
        return chosen
    counts = {kind: round(wanted.count(kind) / len(wanted) * len(slots)) for kind in replies.INTENTS}
    askable = [i for i in slots if needless_questions(chosen[i][1])]
    rng.shuffle(askable)
    intent = {i: replies.ASK for i in askable[:counts[replies.ASK]]}
    rest = [i for i in slots if i not in intent]
    rng.shuffle(rest)
    cycle = [replies.REPORT] * counts[replies.REPORT] + [replies.UNAVAILABLE] * counts[replies.UNAVAILABLE]
    for n, i in enumerate(rest):
        intent[i] = cycle[n] if n < len(cycle) else (replies.REPORT, replies.UNAVAILABLE)[n % 2]  # rounding
    return [(c, replace(p, wrong_reply_intent=intent[i]) if i in intent else p, e)
            for i, (c, p, e) in enumerate(chosen)]


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
