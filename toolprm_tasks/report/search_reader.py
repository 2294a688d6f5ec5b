"""Read logs of the reward-guided search task (`toolprm_search`): placeholder until that task lands."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.report.runs import ReportError


@dataclass
class SearchRun:
    """One search log: per judge, the task success with the judge as selector and without."""

    path: str
    benchmark: str  # "gta" or "bfcl": the paper's two search benchmarks
    judge: str  # the judge model (Inspect model role), as in the leaderboard's model names
    success: float  # with the judge selecting among the candidates, fraction
    baseline: float  # the same policy without reward-guided selection, fraction
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        return self.success - self.baseline


def read_search_log(path: Path, header: Any) -> SearchRun:
    raise ReportError(f"{path}: search logs are not readable yet")


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


def search_table(runs: list[SearchRun], official_rows: list[Any]) -> dict[str, Any]:
    """Gain per search run beside the judge's accuracy on the same ToolPRMBench subset (official
    data only: rebuilt accuracy is not the paper's x axis); fits in percent, as the paper's."""
    accuracy = {}
    for row in official_rows:
        for subset, result in row.subsets.items():
            accuracy.setdefault((row.first.model, subset), result.acc)
    points = [{"path": r.path, "benchmark": r.benchmark, "judge": r.judge, "success": r.success,
               "baseline": r.baseline, "gain": r.gain, "accuracy": accuracy.get((r.judge, r.benchmark))}
              for r in runs]
    fits = {}
    for benchmark in sorted({p["benchmark"] for p in points}):
        xy = [(100 * p["accuracy"], 100 * p["gain"]) for p in points
              if p["benchmark"] == benchmark and p["accuracy"] is not None]
        fit = least_squares(xy)
        if fit:
            fits[benchmark] = fit
    return {"points": points, "fits": fits,
            "unmatched": [p["judge"] for p in points if p["accuracy"] is None]}
