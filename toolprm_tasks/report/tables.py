"""Table layouts shared by report.md and report.html: header and cell texts from the table dicts.

Every cell is text built here once, so the Markdown and the HTML show the same numbers.
Names from results files (models, paths) are data: the writers escape them.
"""

from __future__ import annotations

from typing import Any

from toolprm_tasks.report.plots import ERROR_TYPE_LABELS, SUBSET_NAMES

DASH = "—"


def pct(value: float | None, se: float | None = None) -> str:
    if value is None:
        return DASH
    return f"{100 * value:.1f}" + (f" ± {100 * se:.1f}" if se is not None else "")


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 120:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def count(value: float | None) -> str:
    if value is None:
        return DASH
    for limit, suffix in ((1e9, " G"), (1e6, " M"), (1e4, " k")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _setup(row: dict[str, Any]) -> str:
    return f"{row['protocol']} · {row['prompt']} · order={row['order']}"


def leaderboard(board: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    subsets = board["columns"]
    header = ["judge", "reported by", "setup", *[SUBSET_NAMES.get(s, s) for s in subsets], "AVG", "consistency",
              "first_rate", "parse_fail", "trials", "time", "tokens", "data", "flags"]
    rows = []
    for row in board["rows"]:
        cells = [row["judge"], f"{row['framework']} ({row['backend']})", _setup(row)]
        cells += [pct(row["subsets"][s]["acc"], row["subsets"][s]["se"]) if s in row["subsets"] else DASH
                  for s in subsets]
        cells += [pct(row["avg"], row["avg_se"]), pct(row["consistency"]), pct(row["first_rate"]),
                  pct(row["parse_fail"]), str(row["trials"]), seconds(row["seconds"]), count(row["tokens"]),
                  row["data"], ", ".join(row["flags"]) or DASH]
        rows.append(cells)
    for paper in board["paper_rows"]:
        cells = [paper["judge"], "the paper (Table 2)", DASH]
        cells += [pct(paper["subsets"][s]["acc"]) if s in paper["subsets"] else DASH for s in subsets]
        cells += [pct(paper["avg"])] + [DASH] * 8
        rows.append(cells)
    return header, rows


def error_types(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["judge", *[ERROR_TYPE_LABELS.get(c, c).replace("\n", " ") for c in table["columns"]], "flags"]
    rows = []
    for row in table["rows"]:
        cells = [row["judge"]]
        for column in table["columns"]:
            n = (row.get("trials") or {}).get(column)
            cells.append(pct(row["values"][column]) + (f" (n={n})" if n else ""))
        rows.append([*cells, ", ".join(row["flags"]) or DASH])
    return header, rows


def position_bias(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["judge", "first_rate", "95% interval", "interval method", "consistency", "parse_fail", "order", "flags"]
    rows = []
    for row in table["rows"]:
        interval = DASH if row["low"] is None else f"{100 * row['low']:.1f} – {100 * row['high']:.1f}"
        rows.append([row["judge"], pct(row["first_rate"]), interval, row["interval"] or DASH,
                     pct(row["consistency"]), pct(row["parse_fail"]), row["order"], ", ".join(row["flags"]) or DASH])
    return header, rows


def cost(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["judge", "accuracy", "trials", "time", "s / trial", "tokens", "tokens / trial", "flags"]
    rows = []
    for row in table["rows"]:
        rows.append([row["judge"], pct(row["accuracy"]) + ("" if row["accuracy_is_avg"] else " (partial)"),
                     str(row["trials"]), seconds(row["seconds"]), count(row["seconds_per_trial"]),
                     count(row["tokens"]), count(row["tokens_per_trial"]), ", ".join(row["flags"]) or DASH])
    return header, rows


def runs(entries: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["file", "framework", "judge", "data", "task version", "subsets", "trials", "flags", "notes"]
    rows = [[e["path"], e["framework"], e["model"],
             e["data_kind"] + (f" ({e['tier']} tier)" if e.get("tier", "all") != "all" else ""),
             e["task_version"], ", ".join(e["subsets"]),
             str(e["trials"]), ", ".join(e["flags"]) or DASH, "; ".join(e["notes"]) or DASH] for e in entries]
    return header, rows


def search(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["judge", "accuracy from", "BFCL accuracy", "success", "without selection", "gain (points)",
              "turn success", "policy", "flags", "file"]
    rows = [[p["judge"], f"{p['kind']}: {p['row']}", pct(p["accuracy"]), pct(p["success"]), pct(p["baseline"]),
             DASH if p["gain"] is None else f"{100 * p['gain']:+.1f}" + (
                 f" ± {100 * p['gain_se']:.1f}" if p["gain_se"] is not None else ""),
             pct(p["turn_success"]), p["policy"], ", ".join(p["flags"]) or DASH, p["path"]]
            for p in table["points"]]
    rows += [[u["judge"], f"not plotted: {u['why']}", DASH, pct(u["success"]), pct(u["baseline"]),
              DASH if u["gain"] is None else f"{100 * u['gain']:+.1f}", pct(u["turn_success"]), DASH,
              ", ".join(u["flags"]) or DASH, u["path"]] for u in table["unmatched"]]
    return header, rows
