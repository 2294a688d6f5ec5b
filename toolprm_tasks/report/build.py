"""Assemble the report: runs -> rows -> tables -> plots -> report.json/.md/.html."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from toolprm_tasks.core.versions import package_versions
from toolprm_tasks.report import board, discover, plots, readme, search_reader, writers
from toolprm_tasks.report.compat import KNOWN_TASK_VERSIONS, TASK_VERSION
from toolprm_tasks.report.runs import FLAGS, Run


@dataclass
class Options:
    command: str = "toolprmbench report"
    plots: bool = True
    references: dict[str, str] = field(default_factory=dict)  # judge label or model -> Table 2 row
    now: dt.datetime | None = None  # fixed in tests; else the current time
    commit: str = "unknown"  # this repository's commit the runs used (evaluation_report.yaml)
    repository_url: str | None = None  # with it, register_entry.yaml (inspect_evals' register) is written


def _run_entry(run: Run) -> dict[str, Any]:
    return {"path": run.path, "framework": run.framework, "model": run.model, "backend": run.backend,
            "protocol": run.protocol, "prompt": run.prompt, "order": run.order, "seed": run.seed,
            "data_kind": run.data_kind, "tier": run.tier, "task_version": run.task_version,
            "subsets": list(run.subsets),
            "trials": run.trials, "cases": run.cases(), "avg": run.avg,
            "subset_metrics": {s: r.metrics for s, r in run.subsets.items()},
            "data_sha256": {s: r.sha256 for s, r in run.subsets.items()},
            "pooled": run.pooled, "pooled_sources": run.pooled_sources, "samples_read": run.outcomes is not None,
            "flags": sorted(run.flags), "notes": run.notes, "seconds": run.seconds, "tokens": run.tokens,
            "started": run.started, "command": run.command, "made_with": run.made_with}


def _section(kind: str, rows: list[board.Row]) -> dict[str, Any]:
    notes = []
    if kind == "official" and any(r.first.data_kind == "official" for r in rows):
        notes.append("ToolSandbox's file digest is not published by the authors: it is pinned by commit only.")
    if kind in ("rebuilt", "rebuilt_hard"):
        notes.append("Rebuilt cases are not the paper's data: no Table 2 comparison is made.")
    if kind == "rebuilt_hard":
        notes.append("The hard tier is a rule over each rebuilt case's difficulty field (docs/rebuild.md): "
                     "other cases than the full rebuilt set's, so its numbers are not comparable with them.")
    return {"title": board.KIND_TITLES[kind], "leaderboard": board.leaderboard(kind, rows),
            "error_types": board.error_types(rows), "position_bias": board.position_bias(rows),
            "cost": board.cost(rows), "notes": notes}


def _plots(report: dict[str, Any], out: Path) -> list[plots.Plot]:
    made: list[plots.Plot | None] = []
    for kind, section in report["sections"].items():
        title = {"official": "official data", "rebuilt_hard": "rebuilt data, hard tier (not the paper's)"}.get(
            kind, "rebuilt data (not the paper's)")
        style = plots.judge_styles([r["judge"] for r in section["leaderboard"]["rows"]])
        made.append(plots.accuracy(kind, section["leaderboard"], out, title))
        made.append(plots.error_types(kind, section["error_types"], out, title))
        made.append(plots.position_bias(kind, section["position_bias"], out, title, style))
        made.append(plots.accuracy_vs_consistency(kind, section["position_bias"], out, title, style))
        made.append(plots.cost(kind, section["cost"], out, title, style))
    for kind in board.KINDS:  # the judge's accuracy on each section's data, the hard tier's too
        made.append(plots.search_gain(kind, report["search"], out))
    return [p for p in made if p is not None]


def build_report(paths: list[Path], out: Path | None, options: Options | None = None) -> dict[str, Any]:
    """Read the inputs, apply the honesty rules, and (with `out`) write every file of the report."""
    options = options or Options()
    inputs = discover.collect(paths)
    sections = board.build_rows(inputs.runs, options.references)
    now = options.now or dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {
        "generated_at": now.isoformat(timespec="seconds"), "command": options.command,
        "versions": package_versions("toolprm-tasks", "inspect-ai", "lm-eval", "matplotlib"), "task_version": TASK_VERSION, "task_versions_known": list(KNOWN_TASK_VERSIONS),
        "task_versions_read": {"toolprmbench": sorted({r.task_version for r in inputs.runs}),
                               "toolprm_search": sorted({s.task_version for s in inputs.search})},
        "flags": FLAGS,
        "inputs": {**discover.describe(inputs), "runs": [_run_entry(r) for r in inputs.runs]},
        "sections": {kind: _section(kind, rows) for kind, rows in sections.items()},
        "search": search_reader.search_table(inputs.search, sections),
        "plots": [],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        earlier = _earlier_files(out)
        if options.plots:
            report["plots"] = [{"name": p.name, "title": p.title, "caption": p.caption, "png": p.png.name,
                                "svg": p.svg.name} for p in _plots(report, out)]
        writers.write_json(out / "report.json", report)
        writers.write_atomic(out / "report.md", writers.render_markdown(report))
        writers.write_atomic(out / "report.html", writers.render_html(report, out))
        writers.write_atomic(out / "readme_section.md", readme.readme_section(report) + "\n")
        block = readme.evaluation_report(report, commit=options.commit)
        if block is not None:
            writers.write_atomic(out / "evaluation_report.yaml",
                                 yaml.safe_dump({"evaluation_report": writers.clean_json(block)}, sort_keys=False,
                                                allow_unicode=True))
        if options.repository_url:
            ours = yaml.safe_load((resources.files("toolprm_tasks") / "eval.yaml").read_text(encoding="utf-8"))
            entry = readme.register_entry(ours, options.repository_url, options.commit, block)
            writers.write_atomic(out / "register_entry.yaml",
                                 yaml.safe_dump(writers.clean_json(entry), sort_keys=False, allow_unicode=True, width=100))
        written = {"evaluation_report.yaml"} if block is not None else set()
        written |= {"register_entry.yaml"} if options.repository_url else set()
        written |= {name for p in report["plots"] for name in (p["png"], p["svg"])}
        for name in earlier - written:  # an earlier report's, in the same folder: it would pass for this one's
            (out / name).unlink(missing_ok=True)
    return report


# what a report writes that a later one may not write again: its plots (`plots.py`: <name>_<data>)
# and the two YAML files; never its four own files, which every report writes
_PLOT_FILE = re.compile(r"[a-z0-9_]+\.(?:png|svg)")
_ALWAYS_WRITTEN = frozenset({"report.json", "report.md", "report.html", "readme_section.md"})


def _earlier_files(out: Path) -> set[str]:
    """The files an earlier report in `out` wrote that this one may not write again: its plots,
    as its report.json lists them, and the two YAML files. Only where that report.json is one
    of ours (a user's own files are never touched), only plot-shaped names, only plain files."""
    try:
        earlier = json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return set()  # no earlier report here, or not one of ours
    if not (isinstance(earlier, dict) and "generated_at" in earlier and "task_versions_known" in earlier):
        return set()
    names = {"evaluation_report.yaml", "register_entry.yaml"}
    plots = earlier.get("plots")
    for plot in plots if isinstance(plots, list) else []:
        if isinstance(plot, dict):
            names |= {plot[k] for k in ("png", "svg") if isinstance(plot.get(k), str) and _PLOT_FILE.fullmatch(plot[k])}
    return {name for name in names - _ALWAYS_WRITTEN
            if (out / name).is_file() and not (out / name).is_symlink()}
