"""`toolprmbench download`: the pinned test files into the cache."""

from __future__ import annotations

import argparse
from typing import Any

from toolprm_tasks.cli.common import SUBSET_HELP, Extend, say
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.data import cached


def _cmd_download(args: argparse.Namespace) -> int:
    for subset in args.subset:
        loaded = cached(subset)  # fetched unless the cache already holds a verified copy
        say(f"{subset:12s} {loaded.path}  sha256 {loaded.sha256}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to `toolprmbench` (cli.build_parser)."""
    download = sub.add_parser("download", help="fetch the pinned test files into the cache")
    download.add_argument("--subset", nargs="+", action=Extend, choices=SUBSETS, default=list(SUBSETS),
                          help=SUBSET_HELP)
    download.set_defaults(fn=_cmd_download)
