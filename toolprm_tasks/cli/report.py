"""`toolprmbench report PATH... --out DIR`: the command line of the report.

    toolprmbench report results/ logs/ --out report/       # report.md, report.html, report.json, plots
    toolprmbench report results/ logs/ --readme-section    # just the README's Evaluation Report section
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from toolprm_tasks.cli.common import UsageError
from toolprm_tasks.core.safe_text import one_line
from toolprm_tasks.report.build import Options, build_report
from toolprm_tasks.report.plots import MissingExtra
from toolprm_tasks.report.readme import readme_section
from toolprm_tasks.report.runs import ReportError

_EPILOG = """PATH: lm-eval output folders or results_*.json files (samples_*.jsonl beside them are read
when logged), Inspect logs (.eval, .json) or folders of them, in any mix. See docs/report.md."""


def _references(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        judge, sep, row = item.partition("=")
        if not sep or not judge.strip() or not row.strip():
            raise UsageError(f"report: --reference {item!r}: expected JUDGE=TABLE2_ROW")
        mapping[judge.strip()] = row.strip()
    return mapping


def _command_line(args: argparse.Namespace) -> str:
    """The command as given (rebuilt from the parsed options, so in-process calls print it too)."""
    parts = ["toolprmbench", "report", *args.paths]
    parts += ["--out", args.out] if args.out else []
    parts += [f"--reference={item}" for item in args.reference]
    parts += ["--no-plots"] if args.no_plots else []
    parts += ["--readme-section"] if args.readme_section else []
    parts += ["--commit", args.commit] if args.commit != "unknown" else []  # they change what is written
    parts += ["--register-entry", args.register_entry] if args.register_entry else []
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    # usage errors exit 2 with `toolprmbench: <message>`, as every command's (docs/data.md)
    if args.out is None and not args.readme_section:
        raise UsageError("report: give --out DIR (the report) and/or --readme-section")
    if args.out is not None and not args.out.strip():
        raise UsageError("report: --out is empty: give the folder to write the report to (e.g. --out report/)")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"report: --out {args.out}: a file, not a folder")
    if args.register_entry and args.commit == "unknown":
        raise UsageError("report: --register-entry needs --commit (the commit the register pins)")
    options = Options(command=args.command_line or _command_line(args), plots=not args.no_plots,
                      references=_references(args.reference), commit=args.commit,
                      repository_url=args.register_entry)
    out = Path(args.out) if args.out else None
    try:
        report = build_report([Path(p) for p in args.paths], out, options)
    except (ReportError, MissingExtra) as exc:
        print(f"toolprmbench report: {one_line(exc, 4000)}", file=sys.stderr)  # one line, nothing a terminal acts on
        return 2
    if out is not None:  # with --readme-section, stdout is the section alone (to paste or redirect)
        print(f"report: {one_line(out / 'report.html')} ({_summary(report)})",
              file=sys.stderr if args.readme_section else sys.stdout)
    if args.readme_section:
        print(readme_section(report))
    return 0


def _summary(report: dict[str, Any]) -> str:
    rows = {kind: len(s["leaderboard"]["rows"]) for kind, s in report["sections"].items()}
    return ", ".join(f"{n} {kind} row(s)" for kind, n in rows.items()) + f", {len(report['plots'])} plot(s)"


def register(subparsers: Any) -> None:
    """Add `report` to the toolprmbench command line (called from cli.build_parser)."""
    parser = subparsers.add_parser("report", help="leaderboard, tables and plots from lm-eval results and Inspect logs",
                                   description=__doc__, epilog=_EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--out", help="folder for report.md, report.html, report.json and the plots")
    parser.add_argument("--readme-section", action="store_true",
                        help="print the README's Evaluation Report section (markdown) to stdout")
    parser.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib needed)")
    parser.add_argument("--reference", action="append", default=[], metavar="JUDGE=TABLE2_ROW",
                        help="compare a judge with a Table 2 row of another name, e.g. 'my-grpo=ToolPRM-GRPO (Qwen3-4B)'")
    parser.add_argument("--commit", default="unknown",
                        help="the commit of this repository the runs used (for evaluation_report.yaml)")
    parser.add_argument("--register-entry", metavar="REPOSITORY_URL",
                        help="also write register_entry.yaml: inspect_evals' register entry for this repository "
                             "at --commit, with the evaluation_report of the official-data rows")
    parser.add_argument("--command-line", help=argparse.SUPPRESS)  # the command to print, when called by a script
    parser.set_defaults(fn=run)
