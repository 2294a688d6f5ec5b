"""lm-eval adapter: `process_results` per protocol and one aggregation per metric.

Each document's metric values are the same outcome record (what the judge picked and
whether it was right; visible per sample with `--log_samples`); every aggregation hands
the records of a task to `scorers.core.aggregate`, so lm-eval and Inspect share the maths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from scorers.core import (
    METRICS,
    TrialOutcome,
    aggregate,
    first_from_logprobs,
    first_from_scores,
    normalise_loglikelihood,
    outcome,
    parse_pairwise_answer,
    truncated_share,
    usable_logprob,
    usable_score,
)

_OUTCOME_FIELDS = tuple(TrialOutcome.__dataclass_fields__)


def _per_metric(doc: dict[str, Any], first: float | None, truncated: bool | None = None,
                **details: Any) -> dict[str, dict[str, Any]]:
    """The trial's outcome record under every metric (the aggregations read what they need);
    `truncated` is None where the model does not say whether it shortened the history."""
    record = {**outcome(doc, first).to_dict(), **details, "data_unpinned": bool(doc.get("data_unpinned")),
              "truncated": truncated}
    return {metric: record for metric in (*METRICS, "data_unpinned", "truncated")}


def process_generative(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    """Protocols a/b: parse the generated answer (unparseable answers count as wrong)."""
    answer = results[0] if results else None
    parsed = parse_pairwise_answer(answer)
    return _per_metric(doc, parsed.first, pick=parsed.pick, parsed_by=parsed.how)


def _truncated(results: Sequence[tuple[Any, ...]]) -> bool | None:
    """A backend's third item says whether it shortened the history; None when absent."""
    flags = [bool(r[2]) if len(r) > 2 else None for r in results]
    return None if None in flags else any(flags)


def process_pairwise_ll(doc: dict[str, Any], results: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """Protocol c: log-probability of label 1 vs label 2 after the prompt."""
    scores = [usable_logprob(r[0]) for r in results]  # -inf may be a label's log-likelihood
    first = None if None in scores else first_from_logprobs(scores[0], scores[1])
    return _per_metric(doc, first, truncated=_truncated(results), scores=scores)


def process_pointwise(doc: dict[str, Any], results: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """Protocol d: each candidate's log-likelihood (or PRM score) given the history; a
    scoring backend's third item says whether it shortened the history (None when absent,
    which `truncated` reports as NaN)."""
    raw = [usable_score(r[0]) for r in results]
    scores = [None if s is None else normalise_loglikelihood(s, c, doc["norm"])
              for s, c in zip(raw, doc["candidates"], strict=True)]
    return _per_metric(doc, _first(scores), truncated=_truncated(results), scores=scores)


def _first(scores: Sequence[float | None]) -> float | None:
    """The trial's `first` from two scores; None (unscored) where either is unusable."""
    return None if None in scores else first_from_scores(scores[0], scores[1])


def process_prm(doc: dict[str, Any], results: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """Protocol d through a scoring backend (toolprm-hf, toolprm-vllm): as `process_pointwise`
    (the `_prm` tasks set `norm: none`: the engine's score as is)."""
    return process_pointwise(doc, results)


def outcomes_from_items(items: Sequence[dict[str, Any]]) -> list[TrialOutcome]:
    return [TrialOutcome(**{k: item[k] for k in _OUTCOME_FIELDS}) for item in items]


def _aggregation(metric: str) -> Callable[[Sequence[dict[str, Any]]], float]:
    def aggregation(items: Sequence[dict[str, Any]]) -> float:
        return aggregate(outcomes_from_items(items))[metric]

    aggregation.__name__ = aggregation.__qualname__ = f"agg_{metric}"
    aggregation.__doc__ = f"lm-eval aggregation: `{metric}` from scorers.core.aggregate."
    return aggregation


AGGREGATIONS: dict[str, Callable[[Sequence[dict[str, Any]]], float]] = {m: _aggregation(m) for m in METRICS}

# Named one by one: the task YAMLs refer to them as `!function utils.agg_<metric>`.
agg_acc = AGGREGATIONS["acc"]
agg_acc_cluster_se = AGGREGATIONS["acc_cluster_se"]
agg_consistency = AGGREGATIONS["consistency"]
agg_first_rate = AGGREGATIONS["first_rate"]
agg_parse_fail = AGGREGATIONS["parse_fail"]
agg_acc_wrong_tool = AGGREGATIONS["acc_wrong_tool"]
agg_acc_wrong_params = AGGREGATIONS["acc_wrong_params"]
agg_acc_should_chat = AGGREGATIONS["acc_should_chat"]
agg_acc_should_call = AGGREGATIONS["acc_should_call"]
agg_acc_other = AGGREGATIONS["acc_other"]
agg_acc_unlabeled = AGGREGATIONS["acc_unlabeled"]


def agg_data_unpinned(items: Sequence[dict[str, Any]]) -> float:
    """1.0 when the task ran on a local copy that differs from the pinned release
    (TOOLPRMBENCH_ALLOW_UNPINNED=1): lm-eval's results must say so, not only the log."""
    return float(any(item["data_unpinned"] for item in items))

def agg_truncated(items: Sequence[dict[str, Any]]) -> float:
    """Share of trials whose history the PRM backend shortened to fit the model's context."""
    return truncated_share([item["truncated"] for item in items])


__all__ = ["process_generative", "process_pairwise_ll", "process_pointwise", "process_prm", "AGGREGATIONS",
           "agg_data_unpinned", "agg_truncated", *(f"agg_{m}" for m in METRICS)]
