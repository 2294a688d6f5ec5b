"""`toolprmbench info`: cases per subset, error type and cluster; the data fingerprint."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from toolprm_tasks.cli.common import Extend, Once, say
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.trials import build_trials
from toolprm_tasks.data import REBUILT_SUBSETS, describe_data, fingerprint, load_subsets, pins


def _info(subsets: Sequence[str], data: str = "rebuilt") -> dict[str, Any]:
    loaded = load_subsets(subsets, data=data)
    report: dict[str, Any] = {"fingerprint": fingerprint(loaded), "subsets": {}}
    for item in loaded:
        # prompt sizes tell users what context length a model needs (a framework that cuts a
        # long prompt to fit would silently change the case)
        lengths = [len(t.pairwise_text("standard")) for t in build_trials(item.cases, order="chosen_first")]
        report["subsets"][item.subset] = {
            "cases": len(item.cases),
            "prompt_chars": {"mean": round(sum(lengths) / max(len(lengths), 1)), "max": max(lengths, default=0)},
            "clusters": len({c.cluster for c in item.cases}),
            "cases_per_cluster": dict(sorted(Counter(c.cluster for c in item.cases).items())),
            "error_types": dict(sorted(Counter(c.error_type for c in item.cases).items())),
            "error_types_raw": dict(sorted(Counter(str(c.error_type_raw) for c in item.cases).items())),
            "path": str(item.path),
        }
    return report


def _cmd_info(args: argparse.Namespace) -> int:
    subsets = args.subset or (list(REBUILT_SUBSETS) if args.data == "rebuilt" else list(SUBSETS))
    report = _info(subsets, args.data)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    fp = report["fingerprint"]
    say(f"{describe_data(fp)}  fingerprint sha256 {fp['sha256']}")
    for subset, info in report["subsets"].items():
        file_fp = fp["files"][subset]
        if args.data != "official":
            status = "verified against its manifest"
        elif file_fp["verified"]:
            status = "verified"
        elif pins.PINNED_FILES[subset].sha256 is None:  # ToolSandbox: checked against its first-used copy
            status = "digest not published" + ("; UNPINNED" if file_fp["unpinned"] else "")
        else:
            status = "UNPINNED"
        largest = max(info["cases_per_cluster"].values(), default=0)
        say(f"\n{subset}: {info['cases']} cases in {info['clusters']} clusters (largest: {largest} cases)"
            f"  [{status}: {file_fp['sha256'][:16]}]"
            f"  prompt chars mean {info['prompt_chars']['mean']}, max {info['prompt_chars']['max']}")
        for slug, count in info["error_types"].items():
            say(f"  {slug:14s} {count}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to `toolprmbench` (cli.build_parser)."""
    info = sub.add_parser("info", help="cases per subset, error type and cluster (default: the rebuilt set)")
    info.add_argument("--subset", nargs="+", action=Extend, choices=SUBSETS, default=None,
                      help="subsets, repeatable (default: all of the chosen data)")
    info.add_argument("--data", choices=("rebuilt", "official"), default="rebuilt", action=Once,
                      help="the rebuilt offline cases (default, as for audit and demo; made by `toolprmbench "
                           "build`, no network) or the paper's official files (downloaded on first use)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(fn=_cmd_info)
