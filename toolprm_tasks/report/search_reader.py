"""Read logs of the reward-guided search task (`toolprm_search`, toolprm_tasks/search.py) and
pair each with the judge's benchmark accuracy (the paper's section 5.1 plot).

What a search log gives: the policy (`--model`), the judge (model role `judge`), the selector
(task metadata `selector`, `select` before search version 2-A; a bound judge means `judge`), and the task's metrics: `success`
(conversations solved with the rule), `success_first` (the same policy, one sample per step:
no selection) and `gain_first` (their paired difference, with `gain_first_se`), `turn_success`.
The search runs in BFCL's environments, so its x axis is the judge's ToolPRMBench BFCL accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.core.safe_text import one_line
from toolprm_tasks.report import validate as v
from toolprm_tasks.report.compat import VersionError, canonical_version, search_versions
from toolprm_tasks.report.inspect_reader import SkippedLog
from toolprm_tasks.report.redact import redact_text
from toolprm_tasks.report.runs import ReportError

BENCHMARK = "bfcl"  # toolprm_search runs BFCL's multi-turn environments
_PROTOCOL = {"pointwise": "pointwise", "pairwise": "generative"}  # search judge protocol -> benchmark protocol


@dataclass
class SearchRun:
    """One search log: the judge as selector against the same policy without selection."""

    path: str
    benchmark: str
    judge: str  # the judge model's name, as the leaderboard names models; or "selector: <name>"
    judge_backend: str
    judge_protocol: str  # "pointwise" or "pairwise" ("" for a rule)
    policy: str
    success: float | None
    baseline: float | None  # success_first: the policy alone
    gain: float | None  # gain_first, the task's paired difference
    gain_se: float | None
    turn_success: float | None
    task_version: str = ""
    flags: list[str] = field(default_factory=list)


def _judge(where: v.Where, header: Any) -> tuple[str, str]:
    role = (header.eval.model_roles or {}).get("judge")
    if role is None:
        return "", ""
    provider, _, rest = redact_text(v.text(where, role.model, "eval.model_roles.judge.model")).partition("/")
    if rest.startswith("/"):
        rest = Path(rest.rstrip("/")).name
    return rest or provider, provider


def _judge_protocol(path: Path, where: v.Where) -> str:
    """The protocol the judge actually ran with (`auto` resolves per sample: read the first)."""
    from inspect_ai.log import read_eval_log_sample, read_eval_log_sample_summaries

    summaries = read_eval_log_sample_summaries(str(path))
    if not summaries:
        return ""
    sample = read_eval_log_sample(str(path), id=summaries[0].id, epoch=summaries[0].epoch)
    score = next(iter((sample.scores or {}).values()), None)
    if score is None:
        return ""
    at = where.at(f"sample {one_line(sample.id, 100)}")
    return v.text(at, v.mapping(at, score.metadata, "score.metadata").get("judge_protocol"),
                  "score.metadata.judge_protocol", default="")


# the search metrics the report reads: rates in [0, 1], the gain a difference of two rates
_RANGES = {"success": (0.0, 1.0), "success_first": (0.0, 1.0), "gain_first": (-1.0, 1.0),
           "gain_first_se": (0.0, 1.0), "turn_success": (0.0, 1.0)}


def read_search_log(path: Path, header: Any) -> SearchRun:
    where = v.Where(str(path))
    try:
        version = canonical_version(header.eval.task_version, known=search_versions(), legacy={})
    except VersionError as exc:
        raise ReportError(f"{path}: {exc}") from None
    if header.status != "success" or header.results is None:
        raise SkippedLog(f"{path}: status {header.status!r}: no results to report")
    metrics: dict[str, float | None] = {}
    for score in header.results.scores:
        for name, metric in score.metrics.items():
            if name in _RANGES:
                metrics[name] = v.number(where, metric.value, f"results.{score.name}.{name}", *_RANGES[name])
    if "success" not in metrics:
        raise ReportError(f"{path}: search log without the metric 'success': not a toolprm_search log")
    meta = v.mapping(where, header.eval.metadata, "eval.metadata")
    judge, backend = _judge(where, header)
    key = "selector" if "selector" in meta else "select"  # `select` before search version 2-A
    selector = v.text(where, meta.get(key), f"eval.metadata.{key}", default="") or ("judge" if judge else "first")
    flags = []
    config = header.eval.config
    completed = v.count(where, header.results.completed_samples, "results.completed_samples")
    if config.limit is not None or config.sample_id is not None or completed < (header.eval.dataset.samples or 0):
        flags.append("limit")
    if (config.epochs or 1) > 1:
        flags.append("epochs")
    return SearchRun(path=str(path), benchmark=BENCHMARK, judge=judge if selector == "judge" else f"selector: {selector}",
                     judge_backend=backend if selector == "judge" else "",
                     judge_protocol=_judge_protocol(path, where) if selector == "judge" else "",
                     policy=redact_text(v.text(where, header.eval.model, "eval.model")), success=metrics.get("success"),
                     baseline=metrics.get("success_first"), gain=metrics.get("gain_first"),
                     gain_se=metrics.get("gain_first_se"), turn_success=metrics.get("turn_success"),
                     task_version=version, flags=flags)


def least_squares(points: list[tuple[float, float]]) -> dict[str, float] | None:
    """Ordinary least-squares line through (x, y) points; None for fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in points)
             / sum((x - mean_x) ** 2 for x, _ in points))
    return {"slope": slope, "intercept": mean_y - slope * mean_x, "points": n}


def _accuracy(run: SearchRun, rows: list[Any]) -> tuple[float | None, str, list[str], str]:
    """The judge's accuracy on the search benchmark's subset: the row of the same model. Among
    several, the one that ran as the search did: the protocol the search used, then the
    search's framework (Inspect) and the judge's backend. Returns (accuracy, row label, flags,
    why not) ; a judge left with several rows gets no point, and the why names them."""
    candidates = [r for r in rows if r.first.model == run.judge and run.benchmark in r.subsets]
    if not candidates:
        return None, "", [], "no leaderboard row of this judge with a BFCL accuracy"
    wanted = _PROTOCOL.get(run.judge_protocol)
    preferences = ((lambda r: r.first.protocol.split(" ")[0] == wanted) if wanted else None,
                   lambda r: r.first.framework == "inspect",
                   lambda r: r.first.backend == run.judge_backend)
    for prefer in preferences:
        if len(candidates) > 1 and prefer is not None:
            candidates = [r for r in candidates if prefer(r)] or candidates
    if len(candidates) > 1:
        labels = "; ".join(r.label for r in candidates)
        return None, "", [], f"several leaderboard rows of this judge with a BFCL accuracy, none preferred: {labels}"
    row = candidates[0]
    return row.subsets[run.benchmark].acc, row.label, sorted(row.flags), ""


def search_table(runs: list[SearchRun], sections: dict[str, list[Any]]) -> dict[str, Any]:
    """One point per search run and data kind with a matching leaderboard row; least-squares
    fits per kind, in percent as the paper's (gain points against accuracy percent)."""
    points, unmatched = [], []
    for run in runs:
        matched, why = False, ["no leaderboard row of this judge with a BFCL accuracy"]
        for kind, rows in sections.items():
            accuracy, label, row_flags, reason = _accuracy(run, rows)
            if accuracy is None:
                if reason.startswith("several"):
                    why = [f"{kind}: {reason}"]
                continue
            matched = True
            points.append({"path": run.path, "kind": kind, "benchmark": run.benchmark, "judge": run.judge,
                           "row": label, "policy": run.policy, "judge_protocol": run.judge_protocol,
                           "accuracy": accuracy, "success": run.success, "baseline": run.baseline, "gain": run.gain,
                           "gain_se": run.gain_se, "turn_success": run.turn_success,
                           "flags": sorted(set(run.flags) | set(row_flags))})
        if not matched:
            unmatched.append({"path": run.path, "judge": run.judge, "success": run.success, "baseline": run.baseline,
                              "gain": run.gain, "turn_success": run.turn_success, "flags": run.flags,
                              "why": why[0] if not run.judge.startswith("selector:") else "a selector, not a judge"})
    fits: dict[str, dict[str, float]] = {}
    for kind in sorted({p["kind"] for p in points}):
        fit = least_squares([(100 * p["accuracy"], 100 * p["gain"]) for p in points
                             if p["kind"] == kind and p["gain"] is not None])
        if fit:
            fits[kind] = fit
    return {"points": points, "fits": fits, "unmatched": unmatched}
