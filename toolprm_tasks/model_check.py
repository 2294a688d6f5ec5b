"""A local model's accuracy on a set of cases: the real-model column of the difficulty checks
(`toolprmbench shortcuts --model`, `toolprmbench audit --model`, or any caller).

The model judges each candidate on its own as a `verifier` through the HF scoring engine
(P(Yes) / (P(Yes) + P(No)) given the history; the higher-scored candidate is the pick, an
exact tie counts half). The trials are both orders of a fixed, seeded subset balanced over
sources and error types (`subsample.balanced_subset`) whose pairwise prompts fit a character
budget, so a CPU finishes in minutes; outcomes and metrics come from `scorers.core`. A
verifier's scores do not depend on the order shown, so its `first_rate` is 0.5 and its
`consistency` 1 apart from ties: the column measures difficulty, not position bias (the
demo's generative rows do that).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scorers.core import aggregate, first_from_scores, outcome
from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.subsample import PROMPT_CHARS, balanced_subset, prompt_fits
from toolprm_tasks.core.trials import build_trials

DEFAULT_PER_SUBSET = 4  # cases per subset: about two minutes per subset on a two-core CPU
MODEL_CHOICES_HELP = ("a model folder, 'smollm2' (converted on first use), 'auto' (SmolLM2 when its folder "
                      "exists; default) or 'none'")


def resolve_model(choice: str | None, option: str = "--model") -> str | None:
    """A model folder for a `--model` option (`option`: its name, for the error): `auto` is the
    real model when it has already been converted (`toolprmbench model smollm2`), so a plain
    run never converts or waits."""
    from toolprm_tasks import real_model

    if choice is None or choice == "none":
        return None
    if choice == "auto":
        return str(real_model.model_path()) if real_model.model_path().is_dir() else None
    if choice == "smollm2":
        return str(real_model.ensure_model())
    if not Path(choice).is_dir():
        raise ValueError(f"{option} {choice}: not a folder; use {MODEL_CHOICES_HELP.replace('; default', '')}")
    return choice


def model_accuracy(cases: Sequence[Case], model: str, *, per_subset: int = DEFAULT_PER_SUBSET, seed: int = 0,
                   max_chars: int = PROMPT_CHARS, engine: Any = None) -> dict[str, Any]:
    """The model's verifier accuracy on a seeded subset of `cases` (both orders), with the
    subset's description. `engine`: a loaded scoring engine to reuse across calls."""
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.factory import make_engine

    chosen, description = balanced_subset(cases, per_subset, seed, prompt_fits(max_chars))
    engine = engine or make_engine("hf", model, {"kind": "verifier"})
    requests = [ScoreRequest(c.history, c.functions, action) for c in chosen for action in (c.chosen, c.rejected)]
    scored = engine.score_detailed(requests)
    scores = {c.id: (scored[2 * i].score, scored[2 * i + 1].score) for i, c in enumerate(chosen)}
    outcomes = []
    for trial in build_trials(chosen, order="both"):
        right, wrong = scores[trial.case.id]
        first = first_from_scores(right, wrong) if trial.chosen_position == 1 else first_from_scores(wrong, right)
        outcomes.append(outcome(trial.metadata(), first))
    metrics = aggregate(outcomes)
    return {"model": model, "kind": "verifier", "backend": "hf", "subset": description, "cases": len(chosen),
            "trials": len(outcomes), "accuracy": metrics["acc"], "acc_cluster_se": metrics["acc_cluster_se"],
            "by_error_type": {k[len("acc_"):]: v for k, v in metrics.items()
                              if k.startswith("acc_") and k != "acc_cluster_se" and v == v},
            "truncated": sum(s.truncated for s in scored) / len(scored) if scored else 0.0,
            "case_ids": [c.id for c in chosen]}


def add_model_column(reports: dict[str, dict[str, Any]], audited: dict[str, tuple[str, str, Any]], model: str,
                     per_subset: int = DEFAULT_PER_SUBSET) -> None:
    """The audit's real-model column: `audited` maps a report's name to (subset, source,
    cases or release records); each report gains `real_model` (the accuracy record, or why
    it could not be computed: a file with invalid records is reported, not half-scored)."""
    from toolprm_tasks.core.cases import RecordError, cases_from_records
    from toolprm_tasks.engines.factory import make_engine

    engine = make_engine("hf", model, {"kind": "verifier"})
    for name, (subset, source, items) in audited.items():
        try:
            cases = list(items) if all(isinstance(c, Case) for c in items) else \
                cases_from_records(items, subset=subset, source=source)
        except RecordError as exc:
            reports[name]["real_model"] = {"model": model, "error": f"not computed: {exc}"}
            continue
        reports[name]["real_model"] = model_accuracy(cases, model, per_subset=per_subset, engine=engine)


def describe_column(check: dict[str, Any]) -> str:
    """One line for a report."""
    if "error" in check:
        return f"real model {Path(check['model']).name}: {check['error']}"
    return (f"real model {Path(check['model']).name} (verifier): accuracy {check['accuracy']:.3f} on a seeded "
            f"subset of {check['cases']} cases, both orders")
