"""A fixed, seeded, balanced subset of cases: for runs that cannot afford the whole set.

`balanced_subset` takes the same number of cases from every subset and, within a subset,
spreads them over the error types (round robin over the types in name order; within a type
the cases ranked by a seeded hash of their id). The choice depends only on the seed and the
case ids, never on file order. Cases a caller cannot run (a prompt longer than the model's
budget, say) are left out before choosing and counted in the description, never silently.
Run the subset with `order="both"`: every case in both candidate orders, so position bias
cancels in `acc` and `consistency` is defined.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.trials import build_trials, seeded_key

# The pairwise prompt budget (characters) of the real-model runs (the demo, the audit's model
# column, the benchmarks' figures): a two-core CPU scores a prompt this long in seconds.
PROMPT_CHARS = 14_000


def prompt_fits(max_chars: int = PROMPT_CHARS) -> Callable[[Case], bool]:
    """Whether a case's standard pairwise prompt has at most `max_chars` characters (the
    `fits` of `balanced_subset`)."""
    def fits(case: Case) -> bool:  # the prompt's length does not depend on the order shown
        return len(build_trials([case], order="chosen_first")[0].pairwise_text("standard")) <= max_chars

    return fits


def _spread(cases: list[Case], count: int, seed: int) -> list[Case]:
    by_type: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_type[case.error_type].append(case)
    queues = [sorted(by_type[t], key=lambda c: seeded_key(seed, c.id)) for t in sorted(by_type)]
    picked: list[Case] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def balanced_subset(cases: Iterable[Case], per_subset: int, seed: int = 0,
                    fits: Callable[[Case], bool] | None = None) -> tuple[list[Case], dict[str, Any]]:
    """Up to `per_subset` cases of each subset (in their original order) and a description of
    the choice for results files and tables."""
    if per_subset < 1:
        raise ValueError(f"per_subset must be at least 1, not {per_subset}")
    cases = list(cases)
    chosen_ids: set[str] = set()
    description: dict[str, Any] = {"seed": seed, "per_subset": per_subset, "subsets": {}}
    for subset in sorted({c.subset for c in cases}):
        pool = [c for c in cases if c.subset == subset]
        eligible = [c for c in pool if fits is None or fits(c)]
        picked = _spread(eligible, per_subset, seed)
        chosen_ids.update(c.id for c in picked)
        description["subsets"][subset] = {
            "cases": len(picked), "of": len(pool), "left_out_by_budget": len(pool) - len(eligible),
            "error_types": dict(sorted(Counter(c.error_type for c in picked).items())),
        }
    return [c for c in cases if c.id in chosen_ids], description


def describe(description: dict[str, Any]) -> str:
    """One line for a table's header."""
    parts = []
    for subset, info in description["subsets"].items():
        left_out = f", {info['left_out_by_budget']} over the budget" if info["left_out_by_budget"] else ""
        parts.append(f"{subset} {info['cases']}/{info['of']}{left_out}")
    return f"seeded subset (seed {description['seed']}, balanced over error types): " + "; ".join(parts)
