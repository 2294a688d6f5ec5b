"""The replay policy's proposals: the gold step plus K-1 wrong actions from the rebuild's error
operators (`rebuild.operators.proposals_for`, on the rebuild's own decision point for that gold
step with the agent's history in place of the gold history), in a seeded order, answered as a
model would (the policy prompt's action format). Deterministic: with it the search runs
offline, and its outcome under `first`, `oracle` and a perfect judge is known in advance.

The step reaches the replay provider through message metadata (`inspect_adapter.keys.STEP_KEY`), which real model
APIs never see; the gold is never in the prompt text.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass, replace
from typing import Any

from toolprm_tasks.core.names import REPLAY_ORDERS
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.envs.bfcl import Conversation, Environment, load_conversations
from toolprm_tasks.rebuild.bfcl_points import state_values
from toolprm_tasks.rebuild.operators import gold_call_index, proposals_for
from toolprm_tasks.rebuild.points import DecisionPoint

from .actions import CALL, REPLY, Action, same_step
from .check import Reference, gold_point, gold_step, reference


@dataclass(frozen=True)
class StepInfo:
    """A step of the running search: where it is on the gold path, and the agent's history."""

    key: str  # "<conversation>/<turn>/<step>": what seeds the order
    conversation: str
    category: str
    turn: int
    taken: int  # gold calls of the turn already taken: the gold step is the next one
    gold: Any  # that gold step (a call object or the turn's reply), for reading the log
    history: list[dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> StepInfo:
        data = json.loads(text)
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@functools.cache
def _conversations(category: str) -> dict[str, Conversation]:
    return {c.id: c for c in load_conversations((category,))}


@functools.lru_cache(maxsize=256)
def _reference(conversation: str, category: str) -> Reference:
    try:
        return reference(_conversations(category)[conversation])
    except KeyError:
        raise ValueError(f"replay policy: no BFCL conversation {conversation!r} in category {category!r}") from None


@functools.cache
def _signatures(classes: tuple[str, ...]) -> Environment:
    """Environment instances with their default state: only their methods' signatures are used."""
    return Environment(list(classes), {})


@functools.cache
def _value_pool(category: str) -> dict[str, tuple[dict[str, Any], ...]]:
    """The category's gold calls by tool: where wrong values and wrong-tool arguments come from
    (the build uses all conversations it builds; the four categories share their entries)."""
    calls = (_signatures(tuple(c.involved_classes)).keyword_call(text)
             for c in _conversations(category).values() for turn in c.gold for text in turn)
    return gold_call_index(call for call in calls if call is not None)


@functools.lru_cache(maxsize=4096)
def _state_values(conversation: str, category: str, turn: int, taken: int) -> tuple[Any, ...]:
    point = gold_point(_reference(conversation, category).turns[turn], taken)
    return state_values(_conversations(category)[conversation], point) if point is not None else ()


def _point(step: StepInfo) -> tuple[DecisionPoint, list[dict[str, Any]]]:
    """The rebuild's decision point of the gold step, with the agent's own history."""
    ref = _reference(step.conversation, step.category)
    turn = ref.turns[step.turn]
    gold = gold_step(turn, step.taken)
    point = gold_point(turn, step.taken)
    if point is None:  # a turn without calls for which the rebuild writes no reply
        later = next((c for t in ref.turns[step.turn + 1:] for c in t.calls[:1]), None)
        point = DecisionPoint("bfcl", step.conversation, 0, step.history, turn.functions, gold, call_hint=later)
    point = replace(point, history=step.history, gold_calls=_value_pool(step.category),
                    state_values=_state_values(step.conversation, step.category, step.turn, step.taken))
    return point, turn.functions


def _as_action(value: Any) -> Action:
    return Action(REPLY, value) if isinstance(value, str) else Action(CALL, value)


def _interleaved(groups: dict[str, list[Any]]) -> list[Any]:
    """Round robin over the operators (in their seeded order), so K-1 wrong actions mix error
    types instead of exhausting the first operator's list."""
    out: list[Any] = []
    queues = [list(items) for items in groups.values()]
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def proposals(step: StepInfo, k: int, seed: int = 0, order: str = "seeded") -> list[Any]:
    """The gold step and up to K-1 distinct wrong actions (none the same step as the gold or as
    each other by the rebuild's rule), in the order the replay answers them."""
    if k < 1:
        raise ValueError(f"replay policy: K must be at least 1, got {k}")
    if order not in REPLAY_ORDERS:
        raise ValueError(f"replay policy: unknown order {order!r}; expected one of {', '.join(REPLAY_ORDERS)}")
    point, functions = _point(step)
    rng = random.Random(seeded_key(seed, step.key))
    groups: dict[str, list[Any]] = {}
    for proposal in proposals_for(point, rng) if k > 1 else []:
        groups.setdefault(proposal.operator.split(":")[0], []).append(proposal.action)
    chosen = [_as_action(point.gold)]
    for action in _interleaved(groups):
        if len(chosen) == k:
            break
        candidate = _as_action(action)
        if not any(same_step(candidate, other, functions) for other in chosen):
            chosen.append(candidate)
    values = [a.value for a in chosen]
    if order == "seeded":
        rng.shuffle(values)
    elif order == "gold_last":
        values = values[1:] + values[:1]
    return values


def answer_text(action: Any) -> str:
    """An action as a model following the policy prompt answers it."""
    return action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)


def replay_answers(step: StepInfo, k: int, n: int, seed: int = 0, order: str = "seeded") -> list[str]:
    """N answers: sample i is proposal i mod K (with N = K each proposal once)."""
    values = proposals(step, k, seed, order)
    return [answer_text(values[i % len(values)]) for i in range(n)]
