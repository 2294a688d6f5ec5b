"""Inspect adapter: one scorer for all protocols, and metrics that call `scorers.core`.

A sample's Score.value is the outcome dict {"correct", "first", "parsed"} (epoch reduction
averages each key); the trial fields come from the sample metadata. Per-subset and
per-error-type numbers use Inspect's own `grouped()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    grouped,
    metric,
    scorer,
)
from inspect_ai.solver import TaskState

from scorers.core import (
    ERROR_TYPE_SLUGS,
    TokenLogprob,
    TrialOutcome,
    aggregate,
    first_from_scores,
    first_from_token_logprobs,
    outcome,
    parse_pairwise_answer,
    truncated_share,
)
from toolprm_tasks.core.protocols import protocol as protocol_named
from toolprm_tasks.inspect_adapter.keys import SCORES_KEY, TRUNCATED_KEY


def _outcomes(scores: list[SampleScore]) -> list[TrialOutcome]:
    outcomes = []
    for sample_score in scores:
        meta = sample_score.sample_metadata or {}
        value = sample_score.score.value
        if not isinstance(value, dict):
            raise TypeError(f"sample {sample_score.sample_id}: expected a ToolPRMBench outcome dict, got {value!r}")
        base = outcome(meta, None)
        outcomes.append(TrialOutcome(**{**base.to_dict(), "first": float(value["first"]),
                                        "parsed": float(value["parsed"]), "correct": float(value["correct"])}))
    return outcomes


def _core_metric(name: str) -> Metric:
    def compute(scores: list[SampleScore]) -> float:
        return aggregate(_outcomes(scores))[name]

    return compute


@metric
def acc() -> Metric:
    """Accuracy: the chosen action preferred (ties 0.5, unparseable answers 0)."""
    return _core_metric("acc")


@metric
def acc_cluster_se() -> Metric:
    """Standard error of acc, clustered by task (cases of one task are not independent)."""
    return _core_metric("acc_cluster_se")


@metric
def consistency() -> Metric:
    """Share of cases judged correctly under both candidate orders (needs order=both)."""
    return _core_metric("consistency")


@metric
def first_rate() -> Metric:
    """Position bias: share of parsed answers that name the candidate shown first."""
    return _core_metric("first_rate")


@metric
def parse_fail() -> Metric:
    """Share of answers that named no candidate."""
    return _core_metric("parse_fail")


@metric
def truncated() -> Metric:
    """Share of trials whose history the scoring engine shortened to fit the model's context."""

    def compute(scores: list[SampleScore]) -> float:
        return truncated_share([(s.score.metadata or {}).get("truncated") for s in scores],
                               [str((s.sample_metadata or {}).get("subset")) for s in scores])

    return compute


@metric(name="acc_by_error_type")
def acc_by_error_type() -> Metric:
    """Accuracy per error type (`acc_wrong_tool`, ...), each as scorers.core defines it
    (pooled over that type's trials, across subsets too); NaN for a type without trials."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        values = aggregate(_outcomes(scores))
        return {f"acc_{slug}": values[f"acc_{slug}"] for slug in ERROR_TYPE_SLUGS}

    return compute


def toolprm_metrics(by_subset: bool, pointwise: bool = False) -> list[Any]:
    """The metrics of a task; on a combined task `acc` is the paper's AVG (scorers.core)."""
    metrics: list[Any] = [acc(), acc_cluster_se(), consistency(), first_rate(), parse_fail(), acc_by_error_type()]
    if pointwise:
        metrics.append(truncated())
    if by_subset:
        # per subset (`acc_<subset>`), and `avg`: the unweighted mean of those, equal to `acc`
        metrics.append(grouped(acc(), "subset", all="groups", all_label="avg", name_template="acc_{group_name}"))
    return metrics


def _read_text(state: TaskState, labels: tuple[str, str]) -> tuple[float | None, str]:
    parsed = parse_pairwise_answer(state.output.completion)
    return parsed.first, f"parsed by rule '{parsed.how}'"


def _read_label_logprobs(state: TaskState, labels: tuple[str, str]) -> tuple[float | None, str]:
    choice = state.output.choices[0] if state.output.choices else None
    if choice is None or choice.logprobs is None:
        return None, "the model returned no logprobs"
    tokens = [TokenLogprob(lp.token, lp.logprob, [(t.token, t.logprob) for t in (lp.top_logprobs or [])])
              for lp in choice.logprobs.content]
    first = first_from_token_logprobs(tokens, labels)
    return first, "label logprobs" if first is not None else "no position decided between the labels"


def _read_scores(state: TaskState, labels: tuple[str, str]) -> tuple[float | None, str]:
    scores = state.metadata.get(SCORES_KEY)
    if not scores or len(scores) != 2:
        return None, "no candidate scores"
    first = first_from_scores(scores[0], scores[1])
    return first, f"scores {scores}" if first is not None else f"scores {scores}: not two numbers"


# what is read from each kind of answer (core/protocols.py: a protocol's `reads`)
READERS: dict[str, Callable[[TaskState, tuple[str, str]], tuple[float | None, str]]] = {
    "text": _read_text, "label_logprobs": _read_label_logprobs, "scores": _read_scores,
}


@scorer(metrics=[])  # metrics are given by the task (they differ for the combined task)
def toolprm_scorer(protocol: str, labels: tuple[str, str]) -> Scorer:
    """Score a trial: which candidate the judge preferred, and whether it is the chosen one."""

    spec = protocol_named(protocol)

    async def score(state: TaskState, target: Target) -> Score:
        try:
            first, how = READERS[spec.reads](state, labels)
        except Exception as exc:  # noqa: BLE001 - a model's output never stops a run: a counted failure
            first, how = None, f"unscorable model output ({type(exc).__name__}: {str(exc)[:200]})"
        result = outcome(state.metadata, first)
        answer = None
        if first is not None:
            answer = "tie" if first == 0.5 else labels[0 if first == 1.0 else 1]
        return Score(
            value={"correct": result.correct, "first": result.first, "parsed": result.parsed},
            answer=answer,
            explanation=how,
            metadata={"chosen_position": result.chosen_position,
                      **({"truncated": state.metadata.get(TRUNCATED_KEY)} if spec.scores_each_candidate else {})},
        )

    return score


__all__ = ["toolprm_scorer", "toolprm_metrics", "SCORES_KEY", "TRUNCATED_KEY"]
