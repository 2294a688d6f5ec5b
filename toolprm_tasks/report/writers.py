"""report.md, a self-contained report.html (plots inlined as SVG data URIs) and report.json.

Files are written to a temporary name and renamed, so a crashed report never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolprm_tasks.core import safe_text
from toolprm_tasks.core.files import write_atomic
from toolprm_tasks.core.safe_text import html_text, md_cell, md_code_span
from toolprm_tasks.report import tables
from toolprm_tasks.report.runs import FLAGS

TableFn = Callable[[dict[str, Any]], tuple[list[str], list[list[str]]]]
SECTION_TABLES: tuple[tuple[str, str, TableFn], ...] = (
    ("leaderboard", "Leaderboard", tables.leaderboard),
    ("error_types", "Accuracy by error type", tables.error_types),
    ("position_bias", "Position bias", tables.position_bias),
    ("cost", "Cost", tables.cost),
)
# which plot goes under which table
SECTION_PLOTS = {"leaderboard": ("accuracy_{kind}",), "error_types": ("error_types_{kind}",),
                 "position_bias": ("position_bias_{kind}", "accuracy_vs_consistency_{kind}"),
                 "cost": ("cost_{kind}",)}
INTRO = ("Numbers are percentages of trials (± one cluster-robust standard error, in points). Each number "
         "is the framework's own metric where it reports one; report.json says, per number, where it came "
         "from. Official and rebuilt data are never in one table. See docs/report.md.")


def clean_json(value: Any) -> Any:
    """NaN and infinities become null: report.json is strict JSON."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def write_json(path: Path, report: dict[str, Any]) -> None:
    text = json.dumps(clean_json(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_atomic(path, safe_text.json_document(text))


# ----------------------------------------------------------------------------- markdown

def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; every cell through safe_text.md_cell (one line, no markup)."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _plots_for(report: dict[str, Any], table: str, kind: str) -> list[dict[str, Any]]:
    names = [name.format(kind=kind) for name in SECTION_PLOTS.get(table, ())]
    return [p for name in names for p in report["plots"] if p["name"] == name]


def versions_read(report: dict[str, Any]) -> str:
    """The task versions of the inputs, each under its task's name (the search task's versions
    are its own: `toolprm_search 1-A` is not the benchmark's 1-A)."""
    read = report["task_versions_read"]
    return "; ".join(f"{task} {', '.join(versions)}" for task, versions in read.items() if versions) or "none"


def render_markdown(report: dict[str, Any]) -> str:
    out = [f"# ToolPRMBench report\n\nGenerated {report['generated_at']} by {md_code_span(report['command'])} "
           f"(toolprm-tasks {report['versions']['toolprm-tasks']}; task versions read: "
           f"{versions_read(report)}).\n\n{INTRO}\n"]
    out.append("Flags: " + "; ".join(f"`{k}`: {v}" for k, v in FLAGS.items()) + ".\n")
    for kind, section in report["sections"].items():
        out.append(f"## {section['title']}\n")
        for key, title, layout in SECTION_TABLES:
            out.append(f"### {title}\n\n{md_table(*layout(section[key]))}\n")
            for plot in _plots_for(report, key, kind):
                out.append(f"![{plot['title']}]({plot['png']})\n\n*{plot['caption']}*\n")
        if section["notes"]:
            out.append("Notes: " + " ".join(section["notes"]) + "\n")
    if report["search"]["points"] or report["search"]["unmatched"]:
        out.append(f"## Reward-guided search\n\n{md_table(*tables.search(report['search']))}\n")
        for plot in [p for p in report["plots"] if p["name"].startswith("search_gain")]:
            out.append(f"![{plot['title']}]({plot['png']})\n\n*{plot['caption']}*\n")
    out.append(f"## Inputs\n\n{md_table(*tables.runs(report['inputs']['runs']))}\n")
    for key, title in (("skipped", "Skipped (nothing to report)"), ("not_read", "Files in the folders not read")):
        if report["inputs"][key]:
            out.append(f"{title}:\n\n" + "\n".join(f"- {md_cell(item, 2000)}" for item in report["inputs"][key]) + "\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1400px;
padding:0 1rem;color:#1c2833;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:2px solid #d5d8dc;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.8rem 0 1.2rem;font-size:.86rem}
th,td{border:1px solid #d5d8dc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f2f4f4}td:first-child,th:first-child{text-align:left;white-space:normal;max-width:22rem}
tr.paper td{color:#6c7a89;font-style:italic;background:#fafafa}
.flag{color:#a04000;font-weight:600}figure{margin:1rem 0 2rem}figure img{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#566573}.note{font-size:.9rem;color:#566573}
.scroll{overflow-x:auto}
"""


def _html_table(header: list[str], rows: list[list[str]], paper_from: int | None = None) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        css = ' class="paper"' if paper_from is not None and index >= paper_from else ""
        cells = []
        for column, cell in enumerate(row):
            text = html_text(cell)
            if header[column] == "flags" and cell != tables.DASH:
                text = f'<span class="flag">{text}</span>'
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(plot: dict[str, Any], out_dir: Path) -> str:
    svg = (out_dir / plot["svg"]).read_bytes()
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{html_text(plot["title"])}">'
            f"<figcaption>{html_text(plot['caption'], None)}</figcaption></figure>")


def render_html(report: dict[str, Any], out_dir: Path) -> str:
    def esc(text: str) -> str:  # the report's own words (not data): whole
        return html_text(text, None)

    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ToolPRMBench report</title>"
             f"<style>{_CSS}</style></head><body><h1>ToolPRMBench report</h1>"
             f"<p class=\"note\">Generated {esc(report['generated_at'])} by "
             f"<code>{html_text(report['command'], safe_text.LINE_LIMIT)}</code> "
             f"(toolprm-tasks {esc(report['versions']['toolprm-tasks'])}; task versions read: "
             f"{html_text(versions_read(report))}).</p><p>{esc(INTRO)}</p><p class=\"note\">Flags: "
             + "; ".join(f"<span class=\"flag\">{esc(k)}</span>: {esc(v)}" for k, v in FLAGS.items()) + "</p>"]
    for kind, section in report["sections"].items():
        parts.append(f"<h2>{esc(section['title'])}</h2>")
        for key, title, layout in SECTION_TABLES:
            header, rows = layout(section[key])
            paper_from = len(section[key]["rows"]) if key == "leaderboard" else None
            parts.append(f"<h3>{esc(title)}</h3>{_html_table(header, rows, paper_from)}")
            parts.extend(_figure(plot, out_dir) for plot in _plots_for(report, key, kind))
        if section["notes"]:
            parts.append(f"<p class=\"note\">Notes: {esc(' '.join(section['notes']))}</p>")
    if report["search"]["points"] or report["search"]["unmatched"]:
        parts.append(f"<h2>Reward-guided search</h2>{_html_table(*tables.search(report['search']))}")
        parts.extend(_figure(p, out_dir) for p in report["plots"] if p["name"].startswith("search_gain"))
    parts.append(f"<h2>Inputs</h2>{_html_table(*tables.runs(report['inputs']['runs']))}")
    for key, title in (("skipped", "Skipped (nothing to report)"), ("not_read", "Files in the folders not read")):
        if report["inputs"][key]:
            items = "".join(f"<li>{html_text(item, 2000)}</li>" for item in report["inputs"][key])
            parts.append(f"<p class=\"note\">{esc(title)}:</p><ul class=\"note\">{items}</ul>")
    parts.append("</body></html>")
    return "".join(parts)
