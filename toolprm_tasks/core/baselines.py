"""Baseline judges that need no weights: the floor every PRM must beat.

Each judge gives a score to each candidate of a trial, seeing only its JudgeView (never the
label). The framework adapters turn the scores into whatever the protocol asks for: a
generative answer naming the higher-scored candidate (the first one on a tie: a generative
judge must name one), label log-probabilities, or pointwise scores (ties count 0.5).

- random: a seeded coin per trial id.
- first: always the candidate shown first (pure position bias).
- longer: the candidate whose rendering is longer.
- schema: fewer schema violations against the tool specs (tool_calls.violations).
- grounding: the larger share of the candidate's values and content words found in the
  history (`grounding.py` defines it exactly): the one history-aware reference judge, which
  shows how far surface matching against the conversation goes.

A baseline that beats chance on a subset shows the subset can be solved by a shortcut.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.grounding import HistoryText, grounding_score
from toolprm_tasks.core.render import render_action
from toolprm_tasks.core.tool_calls import violations
from toolprm_tasks.core.trials import JudgeView, Trial, seeded_key

JUDGES: tuple[str, ...] = ("random", "first", "longer", "schema", "grounding")
# the judges that read the history (the others see only the candidates and the tool specs)
HISTORY_JUDGES: tuple[str, ...] = ("grounding",)


def _random(view: JudgeView, seed: int) -> tuple[float, float]:
    coin = random.Random(seeded_key(seed, view.trial_id)).random()
    return (1.0, 0.0) if coin < 0.5 else (0.0, 1.0)


def _first(view: JudgeView, seed: int) -> tuple[float, float]:
    return 1.0, 0.0


def _longer(view: JudgeView, seed: int) -> tuple[float, float]:
    a1, a2 = view.candidates
    return float(len(render_action(a1))), float(len(render_action(a2)))


def _schema(view: JudgeView, seed: int) -> tuple[float, float]:
    a1, a2 = view.candidates
    return -float(violations(a1, view.functions)), -float(violations(a2, view.functions))


def _grounding(view: JudgeView, seed: int) -> tuple[float, float]:
    history = HistoryText.of(view.history)
    a1, a2 = view.candidates
    return grounding_score(a1, history), grounding_score(a2, history)


_SCORERS: dict[str, Callable[[JudgeView, int], tuple[float, float]]] = {
    "random": _random, "first": _first, "longer": _longer, "schema": _schema, "grounding": _grounding,
}


def check_judge(name: str) -> str:
    if name not in _SCORERS:
        raise ValueError(f"unknown baseline judge {name!r}; expected one of {', '.join(JUDGES)}")
    return name


def candidate_scores(judge: str, view: JudgeView, seed: int = 0) -> tuple[float, float]:
    """The judge's score for candidate 1 and candidate 2 (higher is better)."""
    return _SCORERS[check_judge(judge)](view, seed)


def generative_pick(judge: str, view: JudgeView, seed: int = 0) -> int:
    """The candidate (1 or 2) a generative answer names: the higher score, the first on a tie."""
    s1, s2 = candidate_scores(judge, view, seed)
    return 1 if s1 >= s2 else 2


def generative_answer(pick: int, labels: tuple[str, str], judge: str) -> str:
    """The answer text in the format the paper's standard prompt asks for."""
    return json.dumps({"rationale": f"baseline judge '{judge}' (no model)", "chosen action": labels[pick - 1]})


def shortcut_solvable(judge: str, case: Case, seed: int = 0) -> bool:
    """A case the judge gets right in both candidate orders by its heuristic alone
    (a strictly higher score for the chosen action): solvable without understanding it."""
    view = Trial(case, 1, "chosen_first").judge_view()
    s_chosen, s_rejected = candidate_scores(judge, view, seed)
    return s_chosen > s_rejected
