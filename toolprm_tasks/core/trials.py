"""Trials: a case shown with its two candidates in one order, and what a judge may see of it.

Candidate order is always seeded (paper: order unspecified at evaluation, shuffled in
training). `seeded` puts the chosen action first in exactly half of a subset's cases (one
more or less for odd counts), picked by a seeded hash of the case id, so the assignment
does not depend on file order or on which other subsets run. `both` shows every case in
both orders (trial ids `<case>/a`, the seeded order, and `<case>/b`, the swapped one: ids
never reveal where the chosen action is), which is what consistency needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.names import ORDERS, PROTOCOLS, check_choice
from toolprm_tasks.core.prompts import POINTWISE_PROMPT, pairwise_prompt
from toolprm_tasks.core.protocols import DEFAULT_PROMPT
from toolprm_tasks.core.render import render_action, render_functions, render_history

__all__ = ["DEFAULT_PROMPT", "DEFAULT_SEED", "ORDERS", "PROTOCOLS", "JudgeView", "Trial", "build_trials", "seeded_key"]

DEFAULT_SEED = 0


def seeded_key(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


@dataclass(frozen=True)
class JudgeView:
    """Everything a judge may see of a trial: no label. Baseline judges read only this."""

    trial_id: str
    functions: Any
    history: list[dict[str, Any]]
    candidates: tuple[Any, Any]  # in the order shown

    def to_json(self) -> str:
        return json.dumps({"trial_id": self.trial_id, "functions": self.functions,
                           "history": self.history, "candidates": list(self.candidates)},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> JudgeView:
        data = json.loads(text)
        return cls(data["trial_id"], data["functions"], data["history"], tuple(data["candidates"]))


@dataclass(frozen=True)
class Trial:
    case: Case
    chosen_position: int  # 1 or 2: where the chosen action is shown
    order: str
    variant: str = ""  # order=both: "a" is the seeded order, "b" the swapped one

    @property
    def id(self) -> str:
        # Never derived from chosen_position: a judge may see the id (e.g. to seed a coin).
        return f"{self.case.id}/{self.variant}" if self.variant else self.case.id

    @property
    def candidates(self) -> tuple[Any, Any]:
        c = self.case
        return (c.chosen, c.rejected) if self.chosen_position == 1 else (c.rejected, c.chosen)

    def judge_view(self) -> JudgeView:
        return JudgeView(self.id, self.case.functions, self.case.history, self.candidates)

    def pairwise_text(self, prompt: str) -> str:
        a1, a2 = self.candidates
        return pairwise_prompt(prompt).template.format(
            functions=render_functions(self.case.functions),
            history=render_history(self.case.history),
            action_1=render_action(a1),
            action_2=render_action(a2),
        )

    def pointwise_context(self) -> str:
        return pointwise_context(self.case.functions, self.case.history)

    def metadata(self) -> dict[str, Any]:
        """Per-trial fields the scorers need (both frameworks)."""
        c = self.case
        return {"trial_id": self.id, "case_id": c.id, "subset": c.subset, "cluster": c.cluster,
                "error_type": c.error_type, "chosen_position": self.chosen_position}


def pointwise_context(functions: Any, history: list[dict[str, Any]]) -> str:
    return POINTWISE_PROMPT.format(functions=render_functions(functions), history=render_history(history))


def _chosen_first_ids(case_ids: Sequence[str], seed: int) -> set[str]:
    ranked = sorted(case_ids, key=lambda cid: seeded_key(seed, cid))
    return set(ranked[: (len(ranked) + 1) // 2])


def build_trials(cases: Iterable[Case], *, order: str = "seeded", seed: int = DEFAULT_SEED) -> list[Trial]:
    """Expand cases into trials; balance of `seeded` is per subset."""
    cases = list(cases)
    check_choice("order", order, ORDERS)
    if order == "chosen_first":
        return [Trial(c, 1, order) for c in cases]
    if order == "chosen_second":
        return [Trial(c, 2, order) for c in cases]
    first: set[str] = set()
    for subset in sorted({c.subset for c in cases}):
        first |= _chosen_first_ids([c.id for c in cases if c.subset == subset], seed)
    if order == "both":
        return [trial for c in cases for trial in (
            Trial(c, 1 if c.id in first else 2, order, "a"), Trial(c, 2 if c.id in first else 1, order, "b"))]
    return [Trial(c, 1 if c.id in first else 2, order) for c in cases]
