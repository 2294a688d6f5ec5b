"""`toolprmbench`: fetch, inspect and validate the benchmark data; run the baseline demo.

    toolprmbench download              # the four pinned test files into the cache
    toolprmbench info [--json]         # cases per subset, error type and cluster; fingerprint
    toolprmbench validate DIR          # check a local copy: digests against pins, every record
    toolprmbench shortcuts [--json]    # cases a weight-free heuristic solves in both orders
    toolprmbench demo                  # baseline judges through lm-eval on the official data
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolprm_tasks.cases import SUBSETS, RecordError, case_from_record
from toolprm_tasks.data import (
    PINNED_COMMIT,
    PINNED_FILES,
    DataError,
    download,
    fingerprint,
    load_subset,
    read_records,
    sha256_file,
)
from toolprm_tasks.trials import build_trials


def _cmd_download(args: argparse.Namespace) -> int:
    for subset in args.subset:
        path = download(PINNED_FILES[subset])
        print(f"{subset:12s} {path}  sha256 {sha256_file(path)}")
    return 0


def _info(subsets: Sequence[str]) -> dict[str, Any]:
    loaded = [load_subset(s) for s in subsets]
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
    report = _info(args.subset)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    fp = report["fingerprint"]
    print(f"ToolPRMBench @ {fp['repo']} {fp['commit'][:12]}  fingerprint sha256 {fp['sha256']}"
          + ("  (UNPINNED data)" if fp["unpinned"] else ""))
    for subset, info in report["subsets"].items():
        file_fp = fp["files"][subset]
        status = "verified" if file_fp["verified"] else ("UNPINNED" if file_fp["unpinned"] else "digest not published")
        largest = max(info["cases_per_cluster"].values(), default=0)
        print(f"\n{subset}: {info['cases']} cases in {info['clusters']} clusters (largest: {largest} cases)"
              f"  [{status}: {file_fp['sha256'][:16]}]"
              f"  prompt chars mean {info['prompt_chars']['mean']}, max {info['prompt_chars']['max']}")
        for slug, count in info["error_types"].items():
            print(f"  {slug:14s} {count}")
    return 0


def _cmd_shortcuts(args: argparse.Namespace) -> int:
    """Cases a weight-free heuristic solves in both orders: candidates for review or removal."""
    from toolprm_tasks.baselines import shortcut_solvable

    report: dict[str, Any] = {}
    for subset in args.subset:
        cases = load_subset(subset).cases
        report[subset] = {judge: [c.id for c in cases if shortcut_solvable(judge, c)] for judge in args.judge}
        report[subset]["cases"] = len(cases)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for subset, row in report.items():
        counts = ", ".join(f"{judge} {len(row[judge])}" for judge in args.judge)
        print(f"{subset}: {row['cases']} cases; solved in both orders by {counts}")
    return 0


def validate_dir(directory: Path) -> list[str]:
    """Every problem in a local copy: missing files, digest mismatches, every bad record."""
    problems: list[str] = []
    for subset, pin in PINNED_FILES.items():
        path = directory / pin.filename
        if not path.is_file():
            problems.append(f"{path}: missing (subset {subset})")
            continue
        digest = sha256_file(path)
        if pin.sha256 is not None and digest != pin.sha256:
            problems.append(f"{path}: sha256 {digest} differs from the pinned {pin.sha256}")
        try:
            records = read_records(path)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(records, list):
            problems.append(f"{path}: expected a JSON list of records")
            continue
        for index, record in enumerate(records):
            try:
                case_from_record(record, subset=subset, index=index, source=pin.filename)
            except RecordError as exc:
                problems.append(str(exc))
        if pin.cases and len(records) != pin.cases:
            problems.append(f"{path}: {len(records)} records, the release has {pin.cases}")
    return problems


def _cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_dir(Path(args.directory))
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {args.directory} (pins: commit {PINNED_COMMIT[:12]})")
    return 1 if problems else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The README's main command: every baseline judge on ToolPRMBench through lm-eval."""
    import lm_eval

    from toolprm_tasks.baselines import JUDGES

    fp = fingerprint([load_subset(s) for s in SUBSETS])  # fails early, with advice, if the data is missing
    print(f"Baseline judges on ToolPRMBench ({fp['repo']}@{fp['commit'][:12]}, fingerprint {fp['sha256'][:16]}"
          f"{', UNPINNED data' if fp['unpinned'] else ''}), lm-eval, order={args.order}. Accuracy:")
    columns = [*SUBSETS, "AVG"]
    print(f"{'judge':8s}" + "".join(f"{c:>13s}" for c in columns) + f"{'first_rate':>13s}")
    table = {}
    for judge in JUDGES:
        out = lm_eval.simple_evaluate(model="toolprm-baseline", model_args=f"judge={judge}",
                                      tasks=["toolprmbench"], metadata={"order": args.order})
        results = out["results"]
        row = {s: results[f"toolprmbench_{s}"]["acc,none"] for s in SUBSETS}
        row["AVG"] = results["toolprmbench"]["acc,none"]
        row["first_rate"] = results["toolprmbench"]["first_rate,none"]
        table[judge] = row
        print(f"{judge:8s}" + "".join(f"{row[c]:13.3f}" for c in [*columns, "first_rate"]))
    if args.output:
        Path(args.output).write_text(json.dumps({"fingerprint": fp, "order": args.order, "accuracy": table},
                                                indent=2), encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toolprmbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, help_text in (("download", _cmd_download, "fetch the pinned test files into the cache"),
                                ("info", _cmd_info, "cases per subset, error type and cluster")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--subset", nargs="+", choices=SUBSETS, default=list(SUBSETS))
        cmd.set_defaults(fn=fn)
    sub.choices["info"].add_argument("--json", action="store_true", help="machine-readable output")
    shortcuts = sub.add_parser("shortcuts", help="cases a baseline heuristic solves in both orders")
    shortcuts.add_argument("--subset", nargs="+", choices=SUBSETS, default=list(SUBSETS))
    shortcuts.add_argument("--judge", nargs="+", choices=("longer", "schema"), default=["longer", "schema"])
    shortcuts.add_argument("--json", action="store_true")
    shortcuts.set_defaults(fn=_cmd_shortcuts)
    validate = sub.add_parser("validate", help="check a local copy of the data folder")
    validate.add_argument("directory")
    validate.set_defaults(fn=_cmd_validate)
    demo = sub.add_parser("demo", help="baseline judges through lm-eval on the official data")
    demo.add_argument("--output", help="also write the table as JSON to this file")
    demo.add_argument("--order", default="both", choices=("seeded", "both"))
    demo.set_defaults(fn=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (DataError, RecordError) as exc:
        print(f"toolprmbench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
