"""`toolprmbench shortcuts`: cases a weight-free heuristic solves in both orders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from toolprm_tasks.cli.arg_types import positive_int
from toolprm_tasks.cli.common import SUBSET_HELP, Extend, UsageError, say
from toolprm_tasks.core.baselines import shortcut_solvable
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.data import load_subset
from toolprm_tasks.engines.factory import make_engine
from toolprm_tasks.model_check import DEFAULT_PER_SUBSET, MODEL_CHOICES_HELP, model_accuracy, resolve_model


def _cmd_shortcuts(args: argparse.Namespace) -> int:
    """Cases a weight-free heuristic solves in both orders: candidates for review or removal."""
    try:
        model = resolve_model(args.model, option="--model")  # the real-model column (model_check.py)
    except ValueError as exc:
        raise UsageError(f"shortcuts: {exc}") from exc
    engine = None
    report: dict[str, Any] = {}
    for subset in args.subset:
        cases = load_subset(subset).cases
        report[subset] = {judge: [c.id for c in cases if shortcut_solvable(judge, c)] for judge in args.judge}
        report[subset]["cases"] = len(cases)
        if model:
            if engine is None:
                engine = make_engine("hf", model, {"kind": "verifier"})
            report[subset]["model"] = model_accuracy(cases, model, per_subset=args.model_cases, engine=engine)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for subset, row in report.items():
        counts = ", ".join(f"{judge} {len(row[judge])}" for judge in args.judge)
        check = row.get("model")
        column = (f"; {Path(check['model']).name} verifier accuracy {check['accuracy']:.3f} on a seeded subset of "
                  f"{check['cases']} cases (both orders)") if check else ""
        say(f"{subset}: {row['cases']} cases; solved in both orders by {counts}{column}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to `toolprmbench` (cli.build_parser)."""
    shortcuts = sub.add_parser("shortcuts", help="cases a baseline heuristic solves in both orders")
    shortcuts.add_argument("--subset", nargs="+", action=Extend, choices=SUBSETS, default=list(SUBSETS),
                           help=SUBSET_HELP)
    shortcuts.add_argument("--judge", nargs="+", action=Extend, choices=("longer", "schema"),
                           default=["longer", "schema"], help="heuristics, repeatable (default: both)")
    shortcuts.add_argument("--json", action="store_true", help="machine-readable output")
    shortcuts.add_argument("--model", default="auto", help="real-model column: " + MODEL_CHOICES_HELP)
    shortcuts.add_argument("--model-cases", type=positive_int, default=DEFAULT_PER_SUBSET,
                           help=f"cases per subset the model judges (seeded subset; default {DEFAULT_PER_SUBSET})")
    shortcuts.set_defaults(fn=_cmd_shortcuts)
