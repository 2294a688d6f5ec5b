"""`toolprmbench`: fetch, inspect and validate the benchmark data; run the baseline demo.

    toolprmbench download              # the four pinned test files into the cache
    toolprmbench info [--json]         # cases per subset, error type and cluster; fingerprint
    toolprmbench build --source bfcl --out DIR --seed 0   # rebuild cases from executable sources
    toolprmbench validate DIR          # check a local copy: digests against pins, every record
    toolprmbench shortcuts [--json]    # cases a weight-free heuristic solves in both orders
    toolprmbench demo [--data official] # baseline judges through lm-eval (default: rebuilt, offline)
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
    REBUILT_SUBSETS,
    DataError,
    download,
    fingerprint,
    load_subset,
    load_subsets,
    read_records,
    sha256_file,
)
from toolprm_tasks.report import command as report_command
from toolprm_tasks.trials import build_trials


def _cmd_download(args: argparse.Namespace) -> int:
    for subset in args.subset:
        path = download(PINNED_FILES[subset])
        print(f"{subset:12s} {path}  sha256 {sha256_file(path)}")
    return 0


def _describe(fp: dict[str, Any]) -> str:
    if fp["data"] == "official":
        return f"ToolPRMBench @ {fp['repo']} {fp['commit'][:12]}" + ("  (UNPINNED data)" if fp["unpinned"] else "")
    return "ToolPRMBench-style cases REBUILT from executable sources (not the paper's data)"


def _info(subsets: Sequence[str], data: str = "official") -> dict[str, Any]:
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
    print(f"{_describe(fp)}  fingerprint sha256 {fp['sha256']}")
    for subset, info in report["subsets"].items():
        file_fp = fp["files"][subset]
        status = "verified" if file_fp["verified"] else ("UNPINNED" if file_fp["unpinned"] else "digest not published")
        status += "" if args.data == "official" else " against its manifest"
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

    subsets = list(SUBSETS) if args.data == "official" else list(REBUILT_SUBSETS)
    group = "toolprmbench" if args.data == "official" else "toolprmbench_rebuilt"
    prefix = "toolprmbench" if args.data == "official" else "toolprmbench_rebuilt"
    fp = fingerprint(load_subsets(subsets, data=args.data))  # fails early, with advice, if data is missing
    print(f"Baseline judges on {_describe(fp)} (fingerprint {fp['sha256'][:16]}), lm-eval, "
          f"order={args.order}. Accuracy:")
    columns = [*subsets, "AVG"]
    print(f"{'judge':8s}" + "".join(f"{c:>13s}" for c in columns) + f"{'first_rate':>13s}")
    table = {}
    for judge in JUDGES:
        out = lm_eval.simple_evaluate(model="toolprm-baseline", model_args=f"judge={judge}",
                                      tasks=[group], metadata={"order": args.order})
        results = out["results"]
        row = {s: results[f"{prefix}_{s}"]["acc,none"] for s in subsets}
        row["AVG"] = results[group]["acc,none"]
        row["first_rate"] = results[group]["first_rate,none"]
        table[judge] = row
        print(f"{judge:8s}" + "".join(f"{row[c]:13.3f}" for c in [*columns, "first_rate"]))
    if args.output:
        Path(args.output).write_text(json.dumps({"fingerprint": fp, "order": args.order, "accuracy": table},
                                                indent=2), encoding="utf-8")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from toolprm_tasks.rebuild.build import Models, build

    gta = Path(args.gta_dataset) if args.gta_dataset else None
    sampling = tuple(s.strip() for s in args.sampling.split(",") if s.strip())
    unknown = set(sampling) - {"rule", "policy", "online"}
    if unknown:
        raise SystemExit(f"toolprmbench build: unknown --sampling {sorted(unknown)}; use rule, policy, online")
    judges = tuple(j.strip() for j in (args.judges or "").split(",") if j.strip())
    models = Models(policy=args.policy, annotator=args.annotator, judges=judges, sampling=sampling)
    manifests = build(args.source, Path(args.out), seed=args.seed, gta_dataset=gta, models=models, limit=args.limit)
    for source, manifest in manifests.items():
        print(f"{source}: {manifest['cases']} cases -> {args.out}  fingerprint {manifest['fingerprint'][:16]}")
        print(f"  error types: {manifest['by_error_type']}")
        print(f"  execution check: {manifest['execution_check']}")
        print(f"  baseline accuracy (both orders): {manifest['baseline_accuracy_both_orders']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toolprmbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    download = sub.add_parser("download", help="fetch the pinned test files into the cache")
    download.add_argument("--subset", nargs="+", choices=SUBSETS, default=list(SUBSETS))
    download.set_defaults(fn=_cmd_download)
    info = sub.add_parser("info", help="cases per subset, error type and cluster")
    info.add_argument("--subset", nargs="+", choices=SUBSETS, default=None)
    info.add_argument("--data", choices=("official", "rebuilt"), default="official")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(fn=_cmd_info)
    build_cmd = sub.add_parser("build", help="rebuild cases from executable sources")
    build_cmd.add_argument("--source", nargs="+", choices=("bfcl", "tooltalk", "gta"), required=True)
    build_cmd.add_argument("--gta-dataset", help="your copy of GTA's dataset.json (toolmeta.json beside it is used)")
    build_cmd.add_argument("--out", required=True)
    build_cmd.add_argument("--seed", type=int, default=0)
    build_cmd.add_argument("--sampling", default="rule",
                           help="comma list of rule (error injection), policy (offline proposals), online (BFCL rollouts)")
    build_cmd.add_argument("--policy", help="Inspect model name of the policy (policy and online sampling)")
    build_cmd.add_argument("--annotator", help="Inspect model name that finds the first wrong step (online)")
    build_cmd.add_argument("--judges", help="comma list of Inspect model names: the filtering panel")
    build_cmd.add_argument("--limit", type=int, help="only the first N conversations of each source")
    build_cmd.set_defaults(fn=_cmd_build)
    shortcuts = sub.add_parser("shortcuts", help="cases a baseline heuristic solves in both orders")
    shortcuts.add_argument("--subset", nargs="+", choices=SUBSETS, default=list(SUBSETS))
    shortcuts.add_argument("--judge", nargs="+", choices=("longer", "schema"), default=["longer", "schema"])
    shortcuts.add_argument("--json", action="store_true")
    shortcuts.set_defaults(fn=_cmd_shortcuts)
    validate = sub.add_parser("validate", help="check a local copy of the data folder")
    validate.add_argument("directory")
    validate.set_defaults(fn=_cmd_validate)
    demo = sub.add_parser("demo", help="baseline judges through lm-eval (default: the rebuilt offline set)")
    demo.add_argument("--data", choices=("rebuilt", "official"), default="rebuilt")
    demo.add_argument("--output", help="also write the table as JSON to this file")
    demo.add_argument("--order", default="both", choices=("seeded", "both"))
    demo.set_defaults(fn=_cmd_demo)
    report_command.register(sub)
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
