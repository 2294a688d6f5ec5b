"""Read logs of the reward-guided search task (`toolprm_search`, toolprm_tasks/search.py) and
pair each with the judge's benchmark accuracy (the paper's section 5.1 plot).

What a search log gives: the policy (`--model`), the judge (model role `judge`), the selection
rule (task metadata `select`; a bound judge means `judge`), and the task's metrics: `success`
(conversations solved with the rule), `success_first` (the same policy, one sample per step:
no selection) and `gain_first` (their paired difference, with `gain_first_se`), `turn_success`.
The search runs in BFCL's environments, so its x axis is the judge's ToolPRMBench BFCL accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.report.compat import VersionError, canonical_version, search_versions
from toolprm_tasks.report.runs import ReportError, finite

BENCHMARK = "bfcl"  # toolprm_search runs BFCL's multi-turn environments
_PROTOCOL = {"pointwise": "pointwise", "pairwise": "generative"}  # search judge protocol -> benchmark protocol


@dataclass
class SearchRun:
    """One search log: the judge as selector against the same policy without selection."""

    path: str
    benchmark: str
    judge: str  # the judge model's name, as the leaderboard names models; or "rule: <name>"
    judge_backend: str
    judge_protocol: str  # "pointwise" or "pairwise" ("" for a rule)
    policy: str
    success: float | None
    baseline: float | None  # success_first: the policy alone
    gain: float | None  # gain_first, the task's paired difference
    gain_se: float | None
    turn_success: float | None
    flags: list[str] = field(default_factory=list)


def _judge(header: Any) -> tuple[str, str]:
    role = (header.eval.model_roles or {}).get("judge")
    if role is None:
        return "", ""
    provider, _, rest = str(role.model).partition("/")
    if rest.startswith("/"):
        rest = Path(rest.rstrip("/")).name
    return rest or provider, provider


def _judge_protocol(path: Path) -> str:
    """The protocol the judge actually ran with (`auto` resolves per sample: read the first)."""
    from inspect_ai.log import read_eval_log_sample, read_eval_log_sample_summaries

    summaries = read_eval_log_sample_summaries(str(path))
    if not summaries:
        return ""
    sample = read_eval_log_sample(str(path), id=summaries[0].id, epoch=summaries[0].epoch)
    score = next(iter((sample.scores or {}).values()), None)
    return str((score.metadata or {}).get("judge_protocol", "")) if score is not None else ""


def read_search_log(path: Path, header: Any) -> SearchRun:
    try:
        canonical_version(header.eval.task_version, known=search_versions(), legacy={})
    except VersionError as exc:
        raise ReportError(f"{path}: {exc}") from None
    if header.status != "success" or header.results is None:
        from toolprm_tasks.report.inspect_reader import SkippedLog

        raise SkippedLog(f"{path}: status {header.status!r}: no results to report")
    metrics = {name: finite(m.value) for score in header.results.scores for name, m in score.metrics.items()}
    if "success" not in metrics:
        raise ReportError(f"{path}: search log without the metric 'success': not a toolprm_search log")
    meta = header.eval.metadata or {}
    judge, backend = _judge(header)
    rule = meta.get("select") or ("judge" if judge else "first")
    flags = []
    config = header.eval.config
    if config.limit is not None or config.sample_id is not None or header.results.completed_samples < (
            header.eval.dataset.samples or 0):
        flags.append("limit")
    return SearchRun(path=str(path), benchmark=BENCHMARK, judge=judge if rule == "judge" else f"rule: {rule}",
                     judge_backend=backend if rule == "judge" else "",
                     judge_protocol=_judge_protocol(path) if rule == "judge" else "",
                     policy=str(header.eval.model), success=metrics.get("success"),
                     baseline=metrics.get("success_first"), gain=metrics.get("gain_first"),
                     gain_se=metrics.get("gain_first_se"), turn_success=metrics.get("turn_success"), flags=flags)


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


def _accuracy(run: SearchRun, rows: list[Any]) -> tuple[float | None, str, list[str]]:
    """The judge's accuracy on the search benchmark's subset: the row of the same model (and,
    among several, of the protocol the search used). Returns (accuracy, row label, flags)."""
    candidates = [r for r in rows if r.first.model == run.judge and run.benchmark in r.subsets]
    wanted = _PROTOCOL.get(run.judge_protocol)
    if len(candidates) > 1 and wanted:
        candidates = [r for r in candidates if r.first.protocol.split(" ")[0] == wanted] or candidates
    if len(candidates) != 1:
        return None, "", []
    row = candidates[0]
    return row.subsets[run.benchmark].acc, row.label, sorted(row.flags)


def search_table(runs: list[SearchRun], sections: dict[str, list[Any]]) -> dict[str, Any]:
    """One point per search run and data kind with a matching leaderboard row; least-squares
    fits per kind, in percent as the paper's (gain points against accuracy percent)."""
    points, unmatched = [], []
    for run in runs:
        matched = False
        for kind, rows in sections.items():
            accuracy, label, row_flags = _accuracy(run, rows)
            if accuracy is None:
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
                              "why": "no leaderboard row of this judge with a BFCL accuracy"
                              if not run.judge.startswith("rule:") else "a selection rule, not a judge"})
    fits: dict[str, dict[str, float]] = {}
    for kind in sorted({p["kind"] for p in points}):
        fit = least_squares([(100 * p["accuracy"], 100 * p["gain"]) for p in points
                             if p["kind"] == kind and p["gain"] is not None])
        if fit:
            fits[kind] = fit
    return {"points": points, "fits": fits, "unmatched": unmatched}
