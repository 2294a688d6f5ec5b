"""`toolprmbench`: fetch, inspect and validate the benchmark data; run the baseline demo.

    toolprmbench download              # the four pinned test files into the cache
    toolprmbench info [--data official] [--json]  # cases per subset, error type and cluster (default: rebuilt, offline)
    toolprmbench build --source bfcl --out DIR --seed 0   # rebuild cases from executable sources
    toolprmbench validate DIR          # check a local copy: every problem of every file, and warnings
    toolprmbench shortcuts [--json]    # cases a weight-free heuristic solves in both orders
    toolprmbench demo [--data official] # baseline judges and SmolLM2 through lm-eval (default: rebuilt, offline)
    toolprmbench model smollm2         # the real model (SmolLM2-135M-Instruct) as a plain HF folder; prints its path
    toolprmbench audit [--data official] [DIR]  # artifact audit: history-free probes, weight-free judges
    toolprmbench export --format reward|grpo|sft --split train --out DIR  # TRL datasets (docs/training.md)
    toolprmbench train reward|grpo --model DIR --out OUT  # train a judge with TRL (the `train` extra)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from toolprm_tasks import demo
from toolprm_tasks.cli import audit, download, info, model, report, shortcuts, train, validate
from toolprm_tasks.cli import build as build_command
from toolprm_tasks.cli.common import SafeParser, UsageError, say
from toolprm_tasks.core.cases import RecordError
from toolprm_tasks.core.safe_text import visible
from toolprm_tasks.data import DataError, DataUnavailable, jsonio
from toolprm_tasks.real_model import RealModelError
from toolprm_tasks.rebuild.errors import SourceError

__all__ = ["UsageError", "build_parser", "main", "say"]

# one module per subcommand, each with its `register(sub)`, in the order `--help` lists them
SUBCOMMANDS = (download, info, build_command, shortcuts, validate, demo, model, report, audit, train)


def build_parser() -> argparse.ArgumentParser:
    parser = SafeParser(prog="toolprmbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.fn(args)
        sys.stdout.flush()  # here, not at exit: a reader gone away (`| head`) is handled below
        return code
    except BrokenPipeError:  # the reader of our output closed it (`| head`): nothing more to say
        _quiet_stdout()
        return 1  # as Python does on EPIPE; no message to a pipe nobody reads
    except DataUnavailable as exc:  # no network: the offline route in this command's words
        print(f"toolprmbench: {visible(exc.worded_for('toolprmbench', command=args.command))}", file=sys.stderr)
        return 2
    except (DataError, RecordError, jsonio.JSONFileError, SourceError, RealModelError, UsageError, OSError) as exc:
        # expected failures (bad data, bad arguments, a file system refusing): one clear message
        print(f"toolprmbench: {visible(exc)}", file=sys.stderr)
        return 2


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit raises no second
    BrokenPipeError ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to quiet
        pass
