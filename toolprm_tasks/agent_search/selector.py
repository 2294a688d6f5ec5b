"""Selectors: which distinct candidate the agent executes (`Selector`, made by `make_selector`).

- `first`: the candidate of the first sample (with N=1: the policy alone).
- `random`: a seeded uniform pick among the N samples (in distribution, also the policy alone).
- `majority`: the most frequent candidate (self-consistency); a tie goes to the one sampled
  first. Also the fallback of every selector that gets no usable choice.
- `oracle`: the first candidate (in sample order) whose effect matches the gold step's
  (`check.matches_gold`); none matches: the fallback, counted.
- `judge`, pointwise (a score per candidate, all of one step requested together): the highest
  usable score; a tie among the best goes to a seeded pick among them; no usable score at all:
  the fallback, counted.
- `judge`, pairwise (the paper's two-action prompt): a knockout over the distinct candidates in
  a seeded order, the comparisons of one round requested together; `both_orders` asks every
  comparison in both orders. A comparison is won on votes (one per parsed answer); a split
  vote, or no parsed answer, goes to the candidate with more samples, then to the one earlier
  in the knockout order (counted); if no comparison of the step got a single vote, the
  fallback decides instead (counted).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scorers.core import usable_score
from toolprm_tasks.core.names import SELECTORS  # the selectors are named in names.py

from .actions import Action, Candidate


@dataclass(frozen=True)
class StepContext:
    """What a judge may see at a step (no gold), and the key its seeded rules use."""

    key: str
    history: list[dict[str, Any]]
    functions: list[dict[str, Any]]


@dataclass(frozen=True)
class Scored:
    score: float | None  # None: no usable score
    tokens: int = 0
    truncated: bool | None = None


@dataclass(frozen=True)
class Answer:
    pick: int | None  # 1 or 2: the action shown first or second; None: unparseable
    how: str
    tokens: int = 0
    text: str = ""


class PointwiseJudge(Protocol):
    async def score(self, context: StepContext, actions: list[Action]) -> list[Scored]: ...


class PairwiseJudge(Protocol):
    async def compare(self, context: StepContext, first: Action, second: Action) -> Answer: ...


@dataclass
class Choice:
    index: int  # into the step's distinct candidates
    decided_by: str  # what decided (logged per step as `decided_by`)
    detail: dict[str, Any] = field(default_factory=dict)
    judge_calls: int = 0
    judge_tokens: int = 0
    judge_unparsed: int = 0
    judge_splits: int = 0  # pairwise comparisons decided by the tie rule
    fallback: bool = False  # the judge (or oracle) gave no usable choice: majority decided


def first(candidates: Sequence[Candidate]) -> int:
    return next(i for i, c in enumerate(candidates) if 0 in c.samples)


def majority(candidates: Sequence[Candidate]) -> int:
    best = max(c.count for c in candidates)
    # candidates are in order of first appearance: the first with the top count was sampled first
    return next(i for i, c in enumerate(candidates) if c.count == best)


def random_pick(candidates: Sequence[Candidate], rng: random.Random) -> int:
    sample = rng.randrange(sum(c.count for c in candidates))
    return next(i for i, c in enumerate(candidates) if sample in c.samples)


def oracle(matches: Sequence[bool]) -> int | None:
    return next((i for i, ok in enumerate(matches) if ok), None)


def _usable(score: Any) -> bool:
    return usable_score(score) is not None  # the rule lm-eval and Inspect score by


def best_score(scores: Sequence[float | None], rng: random.Random) -> tuple[int | None, bool]:
    """(index of the highest usable score or None, whether a seeded tie-break decided)."""
    usable = [(s, i) for i, s in enumerate(scores) if _usable(s)]
    if not usable:
        return None, False
    top = max(s for s, _ in usable)
    tied = [i for s, i in usable if s == top]
    return (tied[0], False) if len(tied) == 1 else (rng.choice(tied), True)


async def pointwise(judge: PointwiseJudge, context: StepContext, candidates: Sequence[Candidate],
                    rng: random.Random) -> Choice:
    results = await judge.score(context, [c.action for c in candidates])
    if len(results) != len(candidates):
        raise RuntimeError(f"pointwise judge returned {len(results)} scores for {len(candidates)} candidates")
    scores = [r.score if _usable(r.score) else None for r in results]
    index, tie = best_score(scores, rng)
    choice = Choice(0, "", {"scores": scores, "truncated": [r.truncated for r in results]},
                    judge_calls=len(results), judge_tokens=sum(r.tokens for r in results),
                    judge_unparsed=sum(1 for s in scores if s is None))
    if index is None:
        choice.index, choice.decided_by, choice.fallback = majority(candidates), "fallback:majority (no usable score)", True
    else:
        choice.index, choice.decided_by = index, "judge:score (seeded tie-break)" if tie else "judge:score"
    return choice


async def knockout(judge: PairwiseJudge, context: StepContext, candidates: Sequence[Candidate],
                   rng: random.Random, both_orders: bool) -> Choice:
    order = list(range(len(candidates)))
    rng.shuffle(order)
    rank = {c: position for position, c in enumerate(order)}
    choice = Choice(0, "judge:knockout", {"order": list(order), "comparisons": []})
    votes_seen = 0

    async def duel(a: int, b: int) -> int:
        nonlocal votes_seen
        shown = [(a, b), (b, a)] if both_orders else [(a, b)]
        answers = await asyncio.gather(*(judge.compare(context, candidates[x].action, candidates[y].action)
                                          for x, y in shown))
        votes = {a: 0, b: 0}
        for (x, y), answer in zip(shown, answers, strict=True):
            choice.judge_calls += 1
            choice.judge_tokens += answer.tokens
            if answer.pick in (1, 2):
                votes[x if answer.pick == 1 else y] += 1
            else:
                choice.judge_unparsed += 1
        votes_seen += votes[a] + votes[b]
        if votes[a] != votes[b]:
            winner, how = (a if votes[a] > votes[b] else b), "votes"
        else:
            choice.judge_splits += 1
            # tie rule: more samples, then earlier in the knockout order
            winner = min((a, b), key=lambda c: (-candidates[c].count, rank[c]))
            how = "split vote: tie rule" if votes[a] else "no parsed answer: tie rule"
        choice.detail["comparisons"].append({
            "shown": [list(pair) for pair in shown], "picks": [ans.pick for ans in answers],
            "parsed_by": [ans.how for ans in answers], "answers": [ans.text for ans in answers],
            "winner": winner, "decided_by": how})
        return winner

    alive = order
    while len(alive) > 1:
        pairs = [(alive[i], alive[i + 1]) for i in range(0, len(alive) - 1, 2)]
        bye = [alive[-1]] if len(alive) % 2 else []
        alive = [*await asyncio.gather(*(duel(a, b) for a, b in pairs)), *bye]
    if votes_seen == 0:
        choice.index, choice.decided_by, choice.fallback = majority(candidates), "fallback:majority (no parsed answer)", True
    else:
        choice.index = alive[0]
    return choice


Selector = Callable[[StepContext, Sequence[Candidate], Sequence[bool], random.Random], Awaitable[Choice]]


def make_selector(name: str, *, pointwise_judge: PointwiseJudge | None = None,
                  pairwise_judge: PairwiseJudge | None = None, both_orders: bool = False) -> Selector:
    """The selector `name` as one async function of (context, candidates, oracle verdicts, rng)."""
    if name not in SELECTORS:
        raise ValueError(f"unknown selector {name!r}; expected one of {', '.join(SELECTORS)}")

    async def selector(context: StepContext, candidates: Sequence[Candidate], matches: Sequence[bool],
                     rng: random.Random) -> Choice:
        if name == "first":
            return Choice(first(candidates), "first")
        if name == "majority":
            return Choice(majority(candidates), "majority")
        if name == "random":
            return Choice(random_pick(candidates, rng), "random")
        if name == "oracle":
            index = oracle(matches)
            if index is None:
                return Choice(majority(candidates), "fallback:majority (no candidate matches gold)", fallback=True)
            return Choice(index, "oracle")
        if len(candidates) == 1:
            return Choice(0, "single candidate")  # nothing to judge
        if pointwise_judge is not None:
            return await pointwise(pointwise_judge, context, candidates, rng)
        if pairwise_judge is not None:
            return await knockout(pairwise_judge, context, candidates, rng, both_orders)
        raise ValueError("selector=judge needs a judge (bind the model role `judge`)")

    return selector
