"""The README's "Evaluation Report" section (inspect_evals' convention) and the register entry's
`evaluation_report` block, both from the report's leaderboard rows."""

from __future__ import annotations

from typing import Any

from toolprm_tasks.core.safe_text import md_cell, md_code_block
from toolprm_tasks.report import tables
from toolprm_tasks.report.paper import table2_row
from toolprm_tasks.report.writers import md_table


def _result_rows(section: dict[str, Any], reference: bool) -> tuple[list[str], list[list[str]]]:
    header = ["Model", "Framework", "Protocol", "AVG (%)"]
    if reference:
        header += ["Reference (paper)", "Δ"]
    header += ["Samples", "Stderr", "Time", "Flags"]
    rows = []
    for row in section["leaderboard"]["rows"]:
        cells = [row["judge"], f"{row['framework']} ({row['backend']})",
                 f"{row['protocol']}, {row['prompt']} prompt, order={row['order']}", tables.pct(row["avg"])]
        if reference:
            ref = table2_row(row["paper_row"])["AVG"] if row["paper_row"] else None
            delta = tables.DASH if ref is None or row["avg"] is None else f"{100 * (row['avg'] - ref):+.1f}"
            cells += [tables.pct(ref) + (f" ({row['paper_row']})" if ref is not None else ""), delta]
        # the Stderr of AVG: none where AVG is not shown (a partial row's SE is of a mean of fewer subsets)
        se = tables.DASH if row["avg_se"] is None or row["avg"] is None else f"{100 * row['avg_se']:.1f}"
        cells += [str(row["trials"]), se, tables.seconds(row["seconds"]), ", ".join(row["flags"]) or tables.DASH]
        rows.append(cells)
    return header, rows


def _other_versions(report: dict[str, Any]) -> list[str]:
    """A line, where runs recorded other versions than the report's machine has (the line above
    names the machine's: a run made elsewhere would pass for one made with them)."""
    here = report["versions"]
    other: dict[str, set[str]] = {}
    for run in report["inputs"]["runs"]:
        for name, version in (run.get("made_with") or {}).items():
            if version != here.get(name):
                other.setdefault(name, set()).add(version)
    if not other:
        return []
    listed = "; ".join(f"{md_cell(name)} {', '.join(md_cell(x) for x in sorted(found))}"
                       for name, found in sorted(other.items()))
    return [f"The runs recorded other versions than these: {listed} (report.json: each run's `made_with`).", ""]


def readme_section(report: dict[str, Any]) -> str:
    """Markdown for the README: a dated table per data kind and the command that made it."""
    versions = report["versions"]
    search = report["task_versions_read"].get("toolprm_search")
    task_version = f"task version `{report['task_version']}`" + (
        f"; search task `toolprm_search` version {', '.join(f'`{v}`' for v in search)}" if search else "")
    out = ["## Evaluation Report", "",
           f"Implementation: toolprm-tasks {versions['toolprm-tasks']} ({task_version}), "
           f"inspect-ai {versions['inspect-ai']}, lm-eval {versions['lm-eval']}. Generated "
           f"{report['generated_at'][:10]} by:", "", md_code_block([report["command"]], "bash"), "",
           *_other_versions(report),
           "AVG: the paper's unweighted mean of the subsets' accuracies; Samples: trials scored; Stderr: "
           "cluster-robust standard error of AVG, in points; Time: wall clock of the run.", ""]
    official = report["sections"].get("official")
    out.append("### Official data (the paper's release)\n")
    if official and official["leaderboard"]["rows"]:
        out += [md_table(*_result_rows(official, reference=True)), ""]
    else:
        out += ["No official-data run was given to this report: no official-data figure is claimed.", ""]
    rebuilt = report["sections"].get("rebuilt")
    if rebuilt and rebuilt["leaderboard"]["rows"]:
        out += ["### Rebuilt offline data (not the paper's data; not comparable with Table 2)\n",
                md_table(*_result_rows(rebuilt, reference=False)), ""]
    hard = report["sections"].get("rebuilt_hard")
    if hard and hard["leaderboard"]["rows"]:
        out += ["### Rebuilt offline data, hard tier (its cases only; not the paper's data)\n",
                md_table(*_result_rows(hard, reference=False)), ""]
    commands = sorted({run["command"] for run in report["inputs"]["runs"] if run["command"]})
    if commands:
        out += ["The runs (OUT: the folders given to the report):", "", md_code_block(commands, "bash"), ""]
    return "\n".join(out)


# rows flagged so are not the benchmark's results: kept out of the register's report
_NOT_REPORTABLE = frozenset({"unpinned", "limit", "partial", "old-version"})


def evaluation_report(report: dict[str, Any], commit: str) -> dict[str, Any] | None:
    """The register entry's `evaluation_report` block: official data only (the register lists
    the benchmark; rebuilt cases are not it), complete pinned runs only. None if none."""
    official = report["sections"].get("official")
    if not official:
        return None
    results, left_out = [], []
    for row in official["leaderboard"]["rows"]:
        if _NOT_REPORTABLE & set(row["flags"]) or row["avg"] is None:
            left_out.append(f"{row['judge']} ({', '.join(row['flags'])})")
            continue
        metrics = [{"key": "accuracy", "value": row["avg"]}]
        if row["avg_se"] is not None:
            metrics.append({"key": "stderr", "value": row["avg_se"]})
        results.append({"model": row["model"], "provider": row["backend"], "task": "toolprmbench",
                        "metrics": metrics, "time": tables.seconds(row["seconds"]), "date": report["generated_at"][:10],
                        "framework": row["framework"], "setup": f"{row['protocol']}, {row['prompt']} prompt, "
                                                                f"order={row['order']}", "flags": row["flags"]})
    if not results:
        return None
    notes = ["accuracy: the paper's AVG (unweighted mean of the four subsets); stderr: its cluster-robust SE"]
    if left_out:
        notes.append("left out (unpinned, limited, partial or old-version runs): " + "; ".join(left_out))
    return {"results": results, "commit": commit, "version": report["task_version"], "command": report["command"],
            "timestamp": report["generated_at"], "notes": notes}


def register_entry(eval_yaml: dict[str, Any], repository_url: str, commit: str,
                   block: dict[str, Any] | None) -> dict[str, Any]:
    """inspect_evals' register entry (register/<name>/eval.yaml) from our eval.yaml: the combined
    task (the register takes one task per entry), pointing at this repository's commit.
    inspect-evals 0.28.0's register schema has no group, version or external_assets fields:
    those stay in our eval.yaml (the version is in the evaluation_report block)."""
    task = next(t for t in eval_yaml["tasks"] if t["name"] == "toolprmbench")
    entry: dict[str, Any] = {
        "title": eval_yaml["title"], "common_title": "ToolPRMBench", "description": eval_yaml["description"],
        "arxiv": eval_yaml["arxiv"], "contributors": eval_yaml["contributors"], "tags": eval_yaml.get("tags"),
        "tasks": [{"name": task["name"], "dataset_samples": task["dataset_samples"],
                   "task_path": "toolprm_tasks/toolprmbench.py"}],
        "metadata": eval_yaml.get("metadata"),
        "source": {"repository_url": repository_url, "repository_commit": commit},
    }
    if block is not None:
        entry["evaluation_report"] = block
    return entry
