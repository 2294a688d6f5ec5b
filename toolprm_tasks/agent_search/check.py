"""The gold reference of a conversation, the oracle's step verdict and BFCL's turn verdict.

Turn verdict (bfcl-eval's `multi_turn_checker`, plus its `multi_turn_irrelevance_checker`):
- a turn with gold calls is solved when the agent made at least one call in it, every
  environment instance's state equals the state after the gold calls of all turns so far
  (public attributes, `envs.bfcl.Environment.state()`), and every observation of the
  turn's gold calls is among the agent's observations so far (a multiset; order free);
- a turn without gold calls (miss_func / miss_param: the model must say what is missing)
  is solved when the agent made no call in it.
The conversation is solved when every turn is. `state_ok` alone (the state check without
the response and call checks) is kept per turn as well.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.envs.bfcl import Conversation, Environment, function_docs
from toolprm_tasks.rebuild import replies
from toolprm_tasks.rebuild.bfcl_points import decision_points, environment, functions_at, run_action
from toolprm_tasks.rebuild.points import DecisionPoint

from .actions import CALL, REPLY, Action

REPLY_SEED = 0  # the seed of the rebuild's reply wording (its default build)
# The gold reply of the few base/long_context turns without gold calls, for which the rebuild
# writes no reply (BFCL says nothing about why no call is due there).
NO_CALL_REPLY = "I can't do that with the tools and information I have here."


@dataclass(frozen=True)
class TurnReference:
    calls: list[dict[str, Any]]  # the turn's gold calls as action objects
    observations: list[str]  # their observations, replayed from the initial state
    state: dict[str, Any]  # the state after the gold calls of this and all earlier turns
    functions: list[dict[str, Any]]  # the tools the agent has in this turn
    reply: str  # the gold reply that ends the turn
    # the rebuild's decision points of the turn on the gold path: one per gold call, then the
    # reply point where the rebuild writes one (what the replay policy's wrong actions are for)
    points: tuple[DecisionPoint, ...]


@dataclass(frozen=True)
class Reference:
    conversation: Conversation
    turns: list[TurnReference]


def _points_by_turn(conversation: Conversation) -> list[list[DecisionPoint]]:
    """The rebuild's gold decision points, split by turn: a turn with gold calls has one point
    per call then its report; a turn without may have a reply point (ask / unavailable)."""
    points = decision_points(conversation, REPLY_SEED)
    out: list[list[DecisionPoint]] = []
    position = 0
    for turn, gold in enumerate(conversation.gold):
        own = points[position:position + len(gold) + 1] if gold else points[position:position + 1]
        if gold:
            if len(own) != len(gold) + 1 or any(p.is_chat for p in own[:-1]) or not own[-1].is_chat:
                raise ValueError(f"{conversation.id}: turn {turn}: the rebuild's decision points do not follow "
                                 "the gold calls (one per call, then a reply)")
        else:
            own = [p for p in own if p.is_chat and p.reply_kind in (replies.ASK, replies.UNAVAILABLE)]
        out.append(own)
        position += len(own)
    if position != len(points):
        raise ValueError(f"{conversation.id}: {len(points) - position} decision points not matched to a turn")
    return out


def reference(conversation: Conversation) -> Reference:
    """Replay the gold calls turn by turn from the initial state (never `eval`: ast + dispatch)."""
    env = environment(conversation)
    docs = function_docs(conversation.involved_classes)
    turns = []
    for turn, (gold, points) in enumerate(zip(conversation.gold, _points_by_turn(conversation), strict=True)):
        calls = [p.gold for p in points if not p.is_chat]
        observations = [env.execute(text).text for text in gold]
        functions = functions_at(conversation, turn, docs)
        reply = points[-1].gold if points and points[-1].is_chat else NO_CALL_REPLY
        turns.append(TurnReference(calls, observations, env.state(), functions, reply, tuple(points)))
    return Reference(conversation, turns)


def gold_step(turn: TurnReference, taken: int) -> Any:
    """The next gold step not yet taken: a call, or the turn's reply once all calls are done."""
    return turn.calls[taken] if taken < len(turn.calls) else turn.reply


def gold_point(turn: TurnReference, taken: int) -> DecisionPoint | None:
    """The rebuild's decision point of that gold step (None: a reply the rebuild does not write)."""
    return turn.points[taken] if taken < len(turn.points) else None


@dataclass(frozen=True)
class Effect:
    """What an action does from a state: its observation (None for a reply) and the new state."""

    kind: str
    observation: str | None
    state: dict[str, Any] | None


def effect(env: Environment, action: Action) -> Effect:
    """The action tried in a deep copy of the environment (the real one is untouched)."""
    if action.kind != CALL:
        return Effect(action.kind, None, None)
    try:
        trial = copy.deepcopy(env)
    except RecursionError:  # hostile calls nested the state past Python's stack (mkdir; cd, 160 times)
        return Effect(CALL, None, None)  # no state we compare: it matches nothing, as a too-large one
    observation = run_action(trial, action.value)
    return Effect(CALL, observation.text if observation else None, trial.state_or_none())


def matches_gold(candidate: Effect, gold: Effect) -> bool:
    """The oracle's verdict: a reply where the gold step is a reply, or a call whose observation
    and resulting state equal the gold call's (both run from the agent's current state)."""
    if gold.kind == REPLY:
        return candidate.kind == REPLY
    # a state too large to compare (None) matches nothing, not even another one
    return (candidate.kind == CALL and candidate.observation == gold.observation
            and candidate.state is not None and candidate.state == gold.state)


def gold_effect(env: Environment, step: Any) -> Effect:
    return effect(env, Action(REPLY, step) if isinstance(step, str) else Action(CALL, step))


@dataclass(frozen=True)
class TurnVerdict:
    calls: int  # calls the agent made in the turn (errors included)
    state_ok: bool
    response_ok: bool  # the turn's gold observations are among the agent's observations so far
    solved: bool

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def turn_verdict(turn: TurnReference, env: Environment, calls: int, observations: list[str]) -> TurnVerdict:
    """BFCL's verdict for one turn (module docstring); `observations`: all turns so far."""
    state = env.state_or_none()  # None: the agent's calls made a state too large to compare
    state_ok = state is not None and state == turn.state
    if not turn.calls:
        return TurnVerdict(calls, state_ok, True, calls == 0)
    missing = Counter(turn.observations) - Counter(observations)
    response_ok = not missing
    return TurnVerdict(calls, state_ok, response_ok, calls > 0 and state_ok and response_ok)


def trajectory_verdicts(ref: Reference, steps_per_turn: list[list[dict[str, Any]]]) -> list[TurnVerdict]:
    """Our verdict per turn for a trajectory given as the calls it executed per turn (for
    cross-checks; the loop computes the same incrementally)."""
    env = environment(ref.conversation)
    observations: list[str] = []
    verdicts = []
    for turn, calls in zip(ref.turns, steps_per_turn, strict=False):
        for call in calls:
            observation = run_action(env, call)
            observations.append(observation.text if observation else "")
        verdicts.append(turn_verdict(turn, env, len(calls), observations))
    return verdicts
