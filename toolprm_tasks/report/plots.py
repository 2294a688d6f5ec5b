"""The report's plots (matplotlib, from the `report` extra), drawn from the tables' numbers.

Every plot reads the same table dicts report.json holds, so a plotted number is a shown
number. Accuracy axes are in percent with the 50% line of a coin flip; flagged rows carry
their flags in their labels; one judge keeps one colour and marker across a section's plots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.core.safe_text import plot_label
from toolprm_tasks.report.paper import SEARCH_FITS

ERROR_TYPE_LABELS = {"wrong_tool": "wrong tool", "wrong_params": "wrong params",
                     "should_chat": "should chat\n(called a tool)", "should_call": "should call\n(chatted)",
                     "other": "other", "unlabeled": "unlabeled"}
SUBSET_NAMES = {"gta": "GTA", "tooltalk": "ToolTalk", "bfcl": "BFCL", "toolsandbox": "ToolSandbox"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_PAPER_COLOUR = "#9a9a9a"
_COIN = "#c0392b"


class MissingExtra(RuntimeError):
    """matplotlib is not installed: the message says which extra brings it."""


@dataclass
class Plot:
    name: str  # file stem: <name>.png, <name>.svg
    title: str
    caption: str
    png: Path
    svg: Path


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("the report's plots need matplotlib: pip install 'toolprm-tasks[report]' "
                           "(or run `toolprmbench report --no-plots` for the tables only)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    # SVG text stays text (searchable, selectable, smaller); ids are stable between runs
    plt.rcParams.update({"svg.hashsalt": "toolprm-report", "svg.fonttype": "none", "font.size": 10, "axes.titlesize": 11,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _label(entry: dict[str, Any]) -> str:
    """A row's label in a plot: its judge (safe_text.plot_label: elided before any layout, `$`
    kept literal) and its flags."""
    flags = entry.get("flags") or []
    judge = plot_label(entry["judge"])
    return f"{judge}  [{', '.join(flags)}]" if flags else judge


def judge_styles(judges: list[str]) -> dict[str, tuple[Any, str]]:
    plt = _pyplot()
    colours = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
    return {judge: (colours[i % len(colours)], _MARKERS[i % len(_MARKERS)]) for i, judge in enumerate(judges)}


def _height(n: int) -> float:
    return max(3.2, 0.42 * n + 1.8)


def _coin_line(ax: Any, vertical: bool = True, label: str = "50%: a coin flip") -> None:
    (ax.axvline if vertical else ax.axhline)(50, color=_COIN, linestyle="--", linewidth=1.3, label=label, zorder=5)


def _save(fig: Any, out: Path, name: str, title: str, caption: str) -> Plot:
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    return Plot(name, title, caption, png, svg)


def accuracy(kind: str, board: dict[str, Any], out: Path, data_title: str) -> Plot:
    """AVG accuracy per judge (ours with 95% intervals; Table 2 rows in grey, official only)."""
    plt = _pyplot()
    entries = [(_label(r), r["avg"] if r["avg"] is not None else _mean_acc(r), r["avg_se"], False)
               for r in board["rows"]]
    entries += [(f"{plot_label(p['judge'])}  (paper)", p["avg"], None, True) for p in board["paper_rows"]]
    entries = [e for e in entries if e[1] is not None]
    entries.sort(key=lambda e: e[1])
    fig, ax = plt.subplots(figsize=(9.5, _height(len(entries))), layout="constrained")
    ys = range(len(entries))
    for y, (_, value, se, paper) in zip(ys, entries, strict=True):
        ax.barh(y, 100 * value, color=_PAPER_COLOUR if paper else "#2e86c1", hatch="//" if paper else None,
                edgecolor="white", height=0.7, zorder=2)
        if se is not None:
            ax.errorbar(100 * value, y, xerr=100 * 1.96 * se, color="black", capsize=3, linewidth=1, zorder=3)
        ax.text(min(100 * value + (100 * 1.96 * se if se else 0) + 1, 93), y, f"{100 * value:.1f}",
                va="center", fontsize=8.5, zorder=4)
    ax.set_yticks(list(ys), [e[0] for e in entries])
    ax.set_xlim(0, 100)
    _coin_line(ax)
    columns = ", ".join(SUBSET_NAMES.get(c, c) for c in board["columns"])
    ax.set_xlabel(f"AVG accuracy: unweighted mean over {columns} (%)")
    ax.set_title(f"Accuracy per judge: {data_title}")
    from matplotlib.patches import Patch

    handles = [Patch(color="#2e86c1", label="this report (bar: 95% interval, cluster-robust)")]
    if board["paper_rows"]:
        handles.append(Patch(facecolor=_PAPER_COLOUR, hatch="//", edgecolor="white",
                             label="reported by the paper (Table 2)"))
    handles.append(ax.get_legend_handles_labels()[0][0])
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8.5, frameon=False)
    caption = ("AVG is the paper's unweighted mean of the subsets' accuracies. Rows flagged `partial` show "
               "the mean over the subsets they have. Table 2 rows are the paper's numbers, not rerun here.")
    return _save(fig, out, f"accuracy_{kind}", f"Accuracy per judge ({kind})", caption)


def _mean_acc(row: dict[str, Any]) -> float | None:
    values = [s["acc"] for s in row["subsets"].values()]
    return sum(values) / len(values) if values else None


def error_types(kind: str, table: dict[str, Any], out: Path, data_title: str) -> Plot | None:
    """Heatmap: judges x the paper's error types, accuracy in percent (grey: no data)."""
    rows = [r for r in table["rows"] if any(r["values"][c] is not None for c in table["columns"])]
    if not rows or not table["columns"]:
        return None
    plt = _pyplot()
    import numpy as np

    columns = table["columns"]
    grid = np.array([[np.nan if r["values"][c] is None else 100 * r["values"][c] for c in columns] for r in rows])
    fig, ax = plt.subplots(figsize=(max(6.5, 1.5 * len(columns) + 4.5), _height(len(rows))), layout="constrained")
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            value = grid[i, j]
            n = (row.get("trials") or {}).get(column)
            text = "n/a" if math.isnan(value) else f"{value:.0f}" + (f"\nn={n}" if n else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5,
                    color="black" if math.isnan(value) or 25 < value < 80 else "white")
    ax.set_xticks(range(len(columns)), [ERROR_TYPE_LABELS.get(c, c) for c in columns])
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows])
    ax.set_xlabel("error type of the rejected action (paper Fig. 3); n = trials")
    ax.spines[:].set_visible(False)
    fig.colorbar(image, ax=ax, label="accuracy (%)  (50 = coin flip)", shrink=0.9)
    ax.set_title(f"Accuracy by error type: {data_title}")
    caption = "Pooled over the row's subsets; n/a: no trial of that type (or lm-eval without samples)."
    return _save(fig, out, f"error_types_{kind}", f"Accuracy by error type ({kind})", caption)


def position_bias(kind: str, table: dict[str, Any], out: Path, data_title: str,
                  style: dict[str, tuple[Any, str]]) -> Plot | None:
    """first_rate with its 95% interval per judge; 50% is unbiased."""
    rows = [r for r in table["rows"] if r["first_rate"] is not None]
    if not rows:
        return None
    plt = _pyplot()
    rows.sort(key=lambda r: r["first_rate"])
    fig, ax = plt.subplots(figsize=(9.5, _height(len(rows))), layout="constrained")
    for y, row in enumerate(rows):
        colour, marker = style[row["judge"]]
        x = 100 * row["first_rate"]
        if row["low"] is not None:
            ax.errorbar(x, y, xerr=[[x - 100 * row["low"]], [100 * row["high"] - x]], color=colour, capsize=4,
                        linewidth=1.4, zorder=3)
        ax.plot(x, y, marker=marker, color=colour, markersize=8, linestyle="none", zorder=4)
        right = 100 * (row["high"] if row["high"] is not None else row["first_rate"])
        ax.text(right + 2.0, y, f"{x:.1f}", va="center", fontsize=8.5)
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows])
    ax.set_xlim(0, 110)  # room for the value right of a 100% point
    ax.set_xticks(range(0, 101, 10))
    ax.set_ylim(-0.7, len(rows) - 0.3)
    _coin_line(ax, label="50%: no position bias")
    ax.set_xlabel("first_rate: parsed answers naming the candidate shown first (%)")
    methods = sorted({r["interval"] for r in rows if r["interval"]})
    ax.set_title(f"Position bias: {data_title}")
    fig.legend(loc="outside lower center", fontsize=8.5, frameon=False)
    caption = f"Bars: {'; '.join(methods) or 'no interval'}. Above 50%: prefers the first candidate shown."
    return _save(fig, out, f"position_bias_{kind}", f"Position bias ({kind})", caption)


def _log_axis(ax: Any) -> None:
    """Log x axis labelled 1, 2, 5 x 10^k in plain numbers (no overlapping minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _hollow(colour: Any, marker: str) -> dict[str, Any]:
    """Open markers of distinct shapes: judges with equal numbers stay visible on top of each other."""
    return {"marker": marker, "markersize": 10, "markerfacecolor": "none", "markeredgecolor": colour,
            "markeredgewidth": 1.8, "color": colour}


def _scatter_legend(ax: Any, n: int) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8.5, frameon=False,
              ncol=1 if n <= 14 else 2, borderaxespad=0)


def accuracy_vs_consistency(kind: str, table: dict[str, Any], out: Path, data_title: str,
                            style: dict[str, tuple[Any, str]]) -> Plot | None:
    rows = [r for r in table["rows"] if r["consistency"] is not None and r["accuracy"] is not None]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.2), layout="constrained")
    for row in rows:
        colour, marker = style[row["judge"]]
        ax.plot(100 * row["accuracy"], 100 * row["consistency"], linestyle="none", label=_label(row),
                **_hollow(colour, marker))
    _coin_line(ax)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("AVG accuracy (%)")
    ax.set_ylabel("consistency: cases right in both orders (%)")
    ax.set_title(f"Accuracy against consistency (order=both runs): {data_title}")
    ax.grid(alpha=0.3)
    _scatter_legend(ax, len(rows))
    caption = ("Consistency cannot exceed accuracy by much (dotted: equal). A judge that always names the same "
               "position scores 50% accuracy and 0% consistency: points low and to the left win by position.")
    ax.plot([0, 100], [0, 100], color="#7f8c8d", linewidth=0.8, linestyle=":")
    return _save(fig, out, f"accuracy_vs_consistency_{kind}", f"Accuracy against consistency ({kind})", caption)


def cost(kind: str, table: dict[str, Any], out: Path, data_title: str,
         style: dict[str, tuple[Any, str]]) -> Plot | None:
    """Accuracy against seconds (and tokens, where logged) per trial, log scale."""
    panels = [(key, unit) for key, unit in (("seconds_per_trial", "seconds per trial (wall clock, log scale)"),
                                            ("tokens_per_trial", "tokens per trial (log scale)"))
              if any(r[key] and r["accuracy"] is not None for r in table["rows"])]
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + 3.5, 4.8), layout="constrained",
                             squeeze=False)
    for ax, (key, unit) in zip(axes[0], panels, strict=True):
        for row in table["rows"]:
            if row[key] and row["accuracy"] is not None:
                colour, marker = style[row["judge"]]
                ax.plot(row[key], 100 * row["accuracy"], linestyle="none", label=_label(row),
                        **_hollow(colour, marker))
        _log_axis(ax)
        ax.set_ylim(0, 100)
        _coin_line(ax, vertical=False)
        ax.set_xlabel(unit)
        ax.set_ylabel("AVG accuracy (%)")
        ax.grid(alpha=0.3, which="both")
    handles: dict[str, Any] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)  # every judge once, whichever panel it is in
    axes[0][-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8.5,
                       frameon=False, ncol=1 if len(handles) <= 14 else 2, borderaxespad=0)
    fig.suptitle(f"Cost against accuracy: {data_title}")
    caption = "Seconds are whole-run wall clock divided by trials (machines differ); tokens as each framework counts them."
    return _save(fig, out, f"cost_{kind}", f"Cost against accuracy ({kind})", caption)


def _line(slope: float, intercept: float) -> str:
    return f"gain = {slope:.2f} × acc {'−' if intercept < 0 else '+'} {abs(intercept):.2f}"


def search_gain(kind: str, table: dict[str, Any], out: Path) -> Plot | None:
    """Search gain against the judge's ToolPRMBench accuracy on the search benchmark: our points,
    our least-squares line and (official data only) the paper's fitted line."""
    points = [p for p in table["points"] if p["kind"] == kind and p["gain"] is not None]
    if not points:
        return None
    plt = _pyplot()
    benchmark = points[0]["benchmark"]
    name = SUBSET_NAMES.get(benchmark, benchmark)
    fig, ax = plt.subplots(figsize=(9.5, 5.2), layout="constrained")
    style = judge_styles(sorted({p["row"] for p in points}))
    for point in points:
        colour, marker = style[point["row"]]
        x, y = 100 * point["accuracy"], 100 * point["gain"]
        if point["gain_se"]:
            ax.errorbar(x, y, yerr=100 * 1.96 * point["gain_se"], color=colour, capsize=3, linewidth=1)
        label = _label({"judge": point["row"], "flags": point["flags"]})
        ax.plot(x, y, linestyle="none", label=label, **_hollow(colour, marker))
    xs = [0.0, 100.0]
    if kind == "official" and benchmark in SEARCH_FITS:
        slope, intercept = SEARCH_FITS[benchmark]
        ax.plot(xs, [slope * x + intercept for x in xs], color=_PAPER_COLOUR, linestyle="--",
                label=f"paper's fit: {_line(slope, intercept)}")
    fit = table["fits"].get(kind)
    if fit:
        ax.plot(xs, [fit["slope"] * x + fit["intercept"] for x in xs], color="#2e86c1",
                label=f"fit to these points: {_line(fit['slope'], fit['intercept'])}")
    ax.axhline(0, color="black", linewidth=0.8)
    _coin_line(ax)
    ax.set_xlim(0, 100)
    data = {"official": "official", "rebuilt_hard": "rebuilt hard-tier (not the paper's)"}.get(
        kind, "rebuilt (not the paper's)")
    ax.set_xlabel(f"judge accuracy on ToolPRMBench {name}, {data} data (%)")
    ax.set_ylabel("search gain: success with the judge − without (points)")
    ax.set_title(f"Best-of-N search in {name}'s environments: gain against judge accuracy")
    ax.grid(alpha=0.3)
    _scatter_legend(ax, len(points) + 2)
    caption = ("Gain: conversations solved with the judge choosing among the policy's candidates, minus the same "
               "policy with one sample per step (paired; bars: 95%). "
               + ("Dashed: the paper's fit (section 5.1)." if kind == "official"
                  else "The paper's fit is against official-data accuracy and is not drawn here."))
    return _save(fig, out, f"search_gain_{kind}", f"Search gain against accuracy ({kind})", caption)
