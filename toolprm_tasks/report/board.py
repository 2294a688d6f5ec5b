"""Rows and tables: the honesty rules applied to the runs the readers produced.

- Official and rebuilt data are separate sections: never one row, table, plot or average.
- A row is one judge (framework, model, backend, protocol, prompt, order, seed, task version).
  Runs of one judge are merged into one row only when each covers other subsets of the
  official data, verified against the pins (so provably one release), with every trial run;
  anything else (unpinned or unknown data, limited runs, reruns of a subset) stays a row of
  its own, with the data fingerprint in its row.
- A row missing a subset has no AVG and is flagged `partial`; every flag of its runs is shown
  wherever the row appears.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from scorers.core import TrialOutcome, aggregate, cluster_robust_se, subset_mean_se
from toolprm_tasks.core.cases import ERROR_TYPE_SLUGS, SUBSETS
from toolprm_tasks.data import REBUILT_SUBSETS
from toolprm_tasks.report.compat import POOLED_OVER_TRIALS, TASK_VERSION
from toolprm_tasks.report.paper import PAPER, TABLE2, paper_match, table2_row
from toolprm_tasks.report.runs import FRAMEWORK_METRIC, RECOMPUTED, ReportError, Run, SubsetResult, finite

KINDS: tuple[str, ...] = ("official", "rebuilt", "rebuilt_hard")  # report sections (`Run.section`)
KIND_TITLES = {"official": "Official data (the paper's release)",
               "rebuilt": "Rebuilt offline data (rebuilt from BFCL/ToolTalk sources: NOT the paper's data)",
               "rebuilt_hard": "Rebuilt offline data, hard tier (its cases only: NOT the paper's data)"}
_KEY_FIELDS = ("framework", "model", "backend", "model_args", "protocol", "prompt", "order", "seed", "task_version")
_NO_MERGE_FLAGS = {"unpinned", "data-unknown", "limit"}
AVG_MEAN = "derived: unweighted mean of the subsets' accuracies (the paper's AVG)"
AVG_SE = "derived: sqrt(sum of the subsets' squared cluster-robust SEs) / number of subsets"
Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass
class Row:
    """One leaderboard row: one judge on one data set (one run, or disjoint-subset runs merged)."""

    label: str
    kind: str
    runs: list[Run]
    subsets: dict[str, SubsetResult]
    avg: float | None
    avg_source: str
    avg_se: float | None
    avg_se_source: str
    pooled: dict[str, float]
    pooled_sources: dict[str, str]
    outcomes: list[TrialOutcome] | None
    flags: set[str]
    seconds: float | None
    tokens: int | None
    headline: float | None  # AVG, else the mean over the subsets it has (flagged partial)
    fingerprint: str  # short digest over the data files of the subsets the row covers, or "unknown"
    paper_row: str | None = None  # the Table 2 row this judge is (same model name, or --reference)
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def trials(self) -> int:
        return sum(s.trials for s in self.subsets.values())

    def flag_text(self) -> str:
        return ", ".join(sorted(self.flags))


def expected_subsets(kind: str) -> tuple[str, ...]:
    return SUBSETS if kind == "official" else REBUILT_SUBSETS


def _key(run: Run) -> tuple[Any, ...]:
    return tuple(getattr(run, f) for f in _KEY_FIELDS)


def _mergeable(run: Run) -> bool:
    return (run.data_kind == "official" and not (run.flags & _NO_MERGE_FLAGS)
            and all(s.sha256 for s in run.subsets.values()))


def _group_runs(runs: list[Run]) -> list[list[Run]]:
    groups: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: (r.started, r.path)):
        target = None
        if _mergeable(run):
            target = next((g for g in groups if _key(g[0]) == _key(run) and all(_mergeable(r) for r in g)
                           and not any(set(r.subsets) & set(run.subsets) for r in g)), None)
        if target is None:
            groups.append([run])
        else:
            target.append(run)
    return groups


def fingerprint(subsets: dict[str, SubsetResult]) -> str:
    if any(s.sha256 is None for s in subsets.values()):
        return "unknown"
    text = ";".join(f"{name}={subsets[name].sha256}" for name in sorted(subsets))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def avg_se(ses: list[float | None]) -> float | None:
    """SE of an unweighted mean of subsets (scorers.core.subset_mean_se); None when unknown."""
    if not ses or any(se is None for se in ses):
        return None
    value = subset_mean_se(ses)  # type: ignore[arg-type]
    return None if math.isnan(value) else value


def _row(kind: str, runs: list[Run]) -> Row:
    subsets = {name: result for run in runs for name, result in run.subsets.items()}
    subsets = {name: subsets[name] for name in SUBSETS if name in subsets}
    flags = set().union(*(r.flags for r in runs))
    notes = [note for run in runs for note in run.notes]
    expected = expected_subsets(kind)
    complete = set(expected) <= set(subsets)
    avg, avg_source = None, ""
    if complete and len(runs) == 1 and runs[0].avg is not None and set(subsets) == set(expected):
        avg, avg_source = runs[0].avg, FRAMEWORK_METRIC
    elif complete:
        avg, avg_source = sum(subsets[s].acc for s in expected) / len(expected), AVG_MEAN
    else:
        flags.add("partial")
    headline = avg if avg is not None else sum(s.acc for s in subsets.values()) / len(subsets)
    se, se_source = avg_se([subsets[s].se for s in (expected if complete else subsets)]), AVG_SE
    only = runs[0]
    if (avg_source == FRAMEWORK_METRIC and only.task_version not in POOLED_OVER_TRIALS
            and only.pooled_sources.get("acc_cluster_se") == FRAMEWORK_METRIC):
        se, se_source = only.pooled["acc_cluster_se"], FRAMEWORK_METRIC  # the SE of AVG, as the task reports it
    if any(r.task_version != TASK_VERSION for r in runs):
        flags.add("old-version")
    outcomes: list[TrialOutcome] | None = None
    if all(r.outcomes is not None for r in runs):
        outcomes = [o for r in runs for o in r.outcomes]  # type: ignore[union-attr]
    if len(runs) == 1:
        pooled, sources = dict(runs[0].pooled), dict(runs[0].pooled_sources)
    elif outcomes is not None:
        pooled = {k: v for k, v in aggregate(outcomes).items() if finite(v) is not None}
        sources = dict.fromkeys(pooled, RECOMPUTED)
    else:
        pooled, sources = {}, {}
        notes.append("merged runs without samples: no whole-row consistency, first_rate or error types")
    seconds = sum(r.seconds for r in runs) if all(r.seconds is not None for r in runs) else None
    tokens = sum(r.tokens for r in runs) if all(r.tokens is not None for r in runs) else None  # type: ignore[misc]
    if len(runs) > 1:
        notes.append(f"merged from {len(runs)} runs (disjoint subsets, pinned data)")
    return Row(label=runs[0].model, kind=kind, runs=runs, subsets=subsets, avg=avg, avg_source=avg_source,
               avg_se=se, avg_se_source=se_source, pooled=pooled, pooled_sources=sources, outcomes=outcomes, flags=flags, seconds=seconds,
               tokens=tokens, headline=headline, fingerprint=fingerprint(subsets),
               notes=list(dict.fromkeys(notes)))


def _disambiguate(rows: list[Row]) -> None:
    """Labels start as the model name; among rows that share a label, add the first setting
    that differs between them (backend, protocol, ...), until labels are unique."""
    parts = (lambda r: r.first.backend, lambda r: r.first.model_args or "default args", lambda r: r.first.protocol, lambda r: f"prompt={r.first.prompt}",
             lambda r: f"order={r.first.order}", lambda r: r.first.framework, lambda r: f"seed={r.first.seed}",
             lambda r: f"v{r.first.task_version}",
             # the subsets before the data: a partial run's digest (over fewer files) differs from a
             # whole run's though it ran on the same files ("data ..." told of other data)
             lambda r: "subsets " + "+".join(r.subsets), lambda r: f"data {r.fingerprint}")
    for part in parts:
        by_label: dict[str, list[Row]] = {}
        for row in rows:
            by_label.setdefault(row.label, []).append(row)
        for same in by_label.values():
            if len(same) > 1 and len({part(r) for r in same}) > 1:
                for row in same:
                    row.label = f"{row.label} · {part(row)}"
    counts: dict[str, int] = {}
    for row in rows:
        if sum(r.label == row.label for r in rows) > 1 or row.label in counts:
            counts[row.label] = counts.get(row.label, 0) + 1
            row.label = f"{row.label} · run {counts[row.label]}"


def build_rows(runs: list[Run], references: dict[str, str] | None = None) -> dict[str, list[Row]]:
    """Rows per data kind, best AVG first (rows without AVG last)."""
    references = references or {}
    sections: dict[str, list[Row]] = {}
    judges: list[str] = []  # what a --reference may name: an official row's label or model
    for kind in KINDS:
        groups = _group_runs([r for r in runs if r.section == kind])
        rows = [_row(kind, g) for g in groups]
        _disambiguate(rows)
        for row in rows:
            if kind == "official":
                judges += [row.label, row.first.model]
                row.paper_row = references.get(row.label) or references.get(row.first.model) or paper_match(
                    row.first.model)
        rows.sort(key=lambda r: (r.avg is None, -(r.avg or 0.0), -(r.headline or 0.0), r.label))
        if rows:
            sections[kind] = rows
    unknown = set(references.values()) - set(TABLE2)
    if unknown:
        raise ReportError(f"--reference names no Table 2 row: {sorted(unknown)}; rows are {', '.join(TABLE2)}")
    strangers = sorted(set(references) - set(judges))  # a typo there did nothing, in silence
    if strangers:
        named = ", ".join(sorted(set(judges))) if judges else "none: the report has no run on the official data"
        raise ReportError(f"--reference names no judge of the official data: {strangers}; judges are {named}")
    return sections


# ----------------------------------------------------------------------------- tables

def leaderboard(kind: str, rows: list[Row]) -> dict[str, Any]:
    """Columns: subsets (acc ± cluster-robust SE), AVG ± SE, whole-run consistency, first_rate,
    parse_fail, trials, time and tokens; Table 2 rows beside ours on the official data only."""
    columns = [s for s in SUBSETS if s in set(expected_subsets(kind)).union(*(r.subsets for r in rows))]
    body = []
    for row in rows:
        body.append({
            "judge": row.label, "framework": row.first.framework, "model": row.first.model,
            "backend": row.first.backend, "model_args": row.first.model_args, "protocol": row.first.protocol, "prompt": row.first.prompt,
            "order": row.first.order, "seed": row.first.seed, "task_version": row.first.task_version,
            "data": row.fingerprint,
            "subsets": {s: {"acc": row.subsets[s].acc, "se": row.subsets[s].se, "se_source": row.subsets[s].se_source,
                            "trials": row.subsets[s].trials, "sha256": row.subsets[s].sha256}
                        for s in columns if s in row.subsets},
            "avg": row.avg, "avg_source": row.avg_source, "avg_se": row.avg_se, "avg_se_source": row.avg_se_source,
            "consistency": row.pooled.get("consistency"), "first_rate": row.pooled.get("first_rate"),
            "parse_fail": row.pooled.get("parse_fail"), "pooled_acc": row.pooled.get("acc"),
            "pooled_acc_cluster_se": row.pooled.get("acc_cluster_se"), "pooled_sources": row.pooled_sources,
            "trials": row.trials, "cases": _cases(row), "seconds": row.seconds, "tokens": row.tokens,
            "flags": sorted(row.flags), "paper_row": row.paper_row, "notes": row.notes,
            "sources": [r.path for r in row.runs], "reported_by": "this report",
        })
    paper = []
    if kind == "official":
        for name in TABLE2:
            values = table2_row(name)
            paper.append({"judge": name, "subsets": {s: {"acc": values[s]} for s in columns if s in values},
                          "avg": values["AVG"], "reported_by": PAPER})
    return {"columns": columns, "rows": body, "paper_rows": paper}


def _cases(row: Row) -> int | None:
    counts = [r.cases() for r in row.runs]
    return None if None in counts else sum(counts)  # type: ignore[arg-type]


def error_types(rows: list[Row]) -> dict[str, Any]:
    """Accuracy by the paper's error types, pooled over the row's subsets (Inspect's own
    `acc_<type>`; lm-eval's per subset only, so pooled from the samples with scorers.core)."""
    body = []
    for row in rows:
        values = {slug: row.pooled.get(f"acc_{slug}") for slug in ERROR_TYPE_SLUGS}
        counts = None
        if row.outcomes is not None:
            counts = {slug: sum(1 for o in row.outcomes if o.error_type == slug) for slug in ERROR_TYPE_SLUGS}
        body.append({"judge": row.label, "values": values, "trials": counts, "flags": sorted(row.flags),
                     "source": row.pooled_sources.get("acc_wrong_tool") or row.pooled_sources.get("acc")})
    present = [slug for slug in ERROR_TYPE_SLUGS if any(b["values"][slug] is not None for b in body)]
    return {"columns": present, "rows": body}


def first_rate_interval(row: Row) -> tuple[float, float, str] | None:
    """95% interval of first_rate: cluster-robust from the samples (scorers.core's CR1 SE of the
    parsed trials' `first`), else Wilson's binomial interval (ignores clustering)."""
    rate = row.pooled.get("first_rate")
    if rate is None:
        return None
    if row.outcomes is not None:
        def se_of(trials: list[TrialOutcome]) -> float | None:
            parsed = [o for o in trials if o.parsed]
            se = cluster_robust_se([o.first for o in parsed], [o.cluster for o in parsed]) if parsed else math.nan
            return None if math.isnan(se) else se

        subsets = sorted({o.subset for o in row.outcomes})
        if len(subsets) > 1 and row.first.task_version not in POOLED_OVER_TRIALS:
            # first_rate is the unweighted mean of the subsets' rates: combine their SEs as for AVG
            se = avg_se([se_of([o for o in row.outcomes if o.subset == s]) for s in subsets])
        else:
            se = se_of(row.outcomes)
        if se is not None and se > 0:
            return max(0.0, rate - Z95 * se), min(1.0, rate + Z95 * se), "cluster-robust 95%"
        if se == 0:  # every parsed answer the same side: a zero-width interval would claim certainty
            return _wilson(rate, sum(1 for o in row.outcomes if o.parsed),
                           "Wilson 95% (every parsed answer the same side: no cluster-robust SE)")
    # without samples: the parsed answers are each subset's trials less its parse failures (a
    # combined run's parse_fail is a mean over subsets, not a share of all trials)
    per_subset = [(r.trials, r.metrics.get("parse_fail")) for r in row.subsets.values()]
    if not per_subset or any(fail is None for _, fail in per_subset):
        return None
    n = sum(trials * (1.0 - fail) for trials, fail in per_subset)  # type: ignore[operator]
    return _wilson(rate, n, "Wilson 95% (ignores clustering)")


def _wilson(rate: float, n: float, how: str) -> tuple[float, float, str] | None:
    """Wilson's 95% binomial interval of a rate over `n` answers (None when there are none)."""
    if n <= 0:
        return None
    centre = (rate + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(rate * (1 - rate) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    # the rate itself always inside: at 0 and 1 rounding put a bound a hair past it (1 - 2e-16),
    # and the plot's error bar refused the negative length
    return max(0.0, min(rate, centre - half)), min(1.0, max(rate, centre + half)), how


def position_bias(rows: list[Row]) -> dict[str, Any]:
    body = []
    for row in rows:
        interval = first_rate_interval(row)
        body.append({"judge": row.label, "first_rate": row.pooled.get("first_rate"),
                     "low": interval[0] if interval else None, "high": interval[1] if interval else None,
                     "interval": interval[2] if interval else None, "consistency": row.pooled.get("consistency"),
                     "accuracy": row.headline, "accuracy_is_avg": row.avg is not None,
                     "parse_fail": row.pooled.get("parse_fail"), "order": row.first.order,
                     "flags": sorted(row.flags)})
    return {"rows": body}


def cost(rows: list[Row]) -> dict[str, Any]:
    body = []
    for row in rows:
        trials = row.trials or None
        body.append({"judge": row.label, "accuracy": row.headline, "accuracy_is_avg": row.avg is not None,
                     "seconds": row.seconds, "tokens": row.tokens, "trials": row.trials,
                     "seconds_per_trial": row.seconds / trials if row.seconds is not None and trials else None,
                     "tokens_per_trial": row.tokens / trials if row.tokens is not None and trials else None,
                     "flags": sorted(row.flags)})
    return {"rows": body}
