"""Per-conversation score values and the pooled metrics (one definition for the Inspect task
and the experiment script).

Ratios pool over all steps or turns of all conversations (a sum over a sum), so a long
conversation weighs by its steps, as the paper's step accuracy does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scorers.core import mean

from .loop import COUNTERS

REFERENCES: tuple[str, ...] = ("first", "majority")


def score_value(main: Mapping[str, Any], references: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """One conversation's numbers from rollout records (`Rollout.to_json`): outcome, counters,
    and the references' outcomes."""
    value: dict[str, float] = {"success": float(main["success"]), "state_success": float(main["state_success"])}
    value.update({name: float(main["counts"][name]) for name in COUNTERS})
    for name, record in references.items():
        value[f"success_{name}"] = float(record["success"])
        value[f"turns_solved_{name}"] = float(record["counts"]["turns_solved"])
    return value


def _sum(values: Sequence[Mapping[str, float]], key: str) -> float:
    return float(sum(v.get(key, 0.0) for v in values))


def _ratio(values: Sequence[Mapping[str, float]], top: str, bottom: str) -> float:
    denominator = _sum(values, bottom)
    return _sum(values, top) / denominator if denominator else math.nan


def _se(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return math.nan
    centre = mean(xs)
    return math.sqrt(sum((x - centre) ** 2 for x in xs) / (len(xs) - 1) / len(xs))


METRICS: tuple[str, ...] = (
    "success", "success_se", "state_success", "turn_success", "step_limit_hits", "invalid_step_rate",
    "invalid_sample_rate", "judge_agreement", "first_agreement", "majority_agreement", "oracle_no_match",
    "judge_calls", "judge_calls_per_step", "judge_tokens", "judge_parse_fail", "judge_splits",
    "fallback_steps", "policy_tokens", "distinct_per_step",
)


def aggregate(values: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Every metric over conversations' score values (NaN where a metric has no data)."""
    success = [v["success"] for v in values]
    out = {
        "success": mean(success),
        "success_se": _se(success),
        "state_success": mean([v["state_success"] for v in values]),
        "turn_success": _ratio(values, "turns_solved", "turns"),
        "step_limit_hits": _sum(values, "step_limit_hits"),
        "invalid_step_rate": _ratio(values, "invalid_steps", "steps"),
        "invalid_sample_rate": _ratio(values, "invalid_samples", "samples"),
        # agreement with the oracle on steps where the choice matters (some but not all
        # candidates match the gold step): the in-the-loop version of benchmark accuracy
        "judge_agreement": _ratio(values, "agree_steps", "decisive_steps"),
        "first_agreement": _ratio(values, "first_agree_steps", "decisive_steps"),
        "majority_agreement": _ratio(values, "majority_agree_steps", "decisive_steps"),
        "oracle_no_match": _ratio(values, "oracle_no_match", "steps"),
        "judge_calls": _sum(values, "judge_calls"),
        "judge_calls_per_step": _ratio(values, "judge_calls", "steps"),
        "judge_tokens": _sum(values, "judge_tokens"),
        "judge_parse_fail": _ratio(values, "judge_unparsed", "judge_calls"),
        "judge_splits": _sum(values, "judge_splits"),
        "fallback_steps": _sum(values, "fallback_steps"),
        "policy_tokens": _sum(values, "policy_tokens"),
        "distinct_per_step": _ratio(values, "distinct_candidates", "steps"),
    }
    for name in REFERENCES:
        if values and all(f"success_{name}" in v for v in values):
            diffs = [v["success"] - v[f"success_{name}"] for v in values]  # paired per conversation
            out[f"success_{name}"] = mean([v[f"success_{name}"] for v in values])
            out[f"gain_{name}"] = mean(diffs)
            out[f"gain_{name}_se"] = _se(diffs)
            out[f"turn_success_{name}"] = _ratio(values, f"turns_solved_{name}", "turns")
            out[f"turn_gain_{name}"] = out["turn_success"] - out[f"turn_success_{name}"]
    return out

