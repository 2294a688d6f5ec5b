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
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolprm_tasks import demo
from toolprm_tasks.cli import audit as audit_command
from toolprm_tasks.cli import model as model_command
from toolprm_tasks.cli import report as report_command
from toolprm_tasks.cli import train as training_command
from toolprm_tasks.cli.arg_types import folder_name, positive_int
from toolprm_tasks.core.cases import SUBSETS, RecordError, check_records
from toolprm_tasks.core.safe_text import visible
from toolprm_tasks.core.trials import build_trials
from toolprm_tasks.data import (
    PINNED_COMMIT,
    PINNED_FILES,
    REBUILT_SUBSETS,
    DataError,
    DataUnavailable,
    cached,
    describe_data,
    fingerprint,
    first_use_path,
    jsonio,
    load_subset,
    load_subsets,
    sha256_file,
)
from toolprm_tasks.model_check import DEFAULT_PER_SUBSET, MODEL_CHOICES_HELP, model_accuracy, resolve_model
from toolprm_tasks.real_model import RealModelError
from toolprm_tasks.rebuild.errors import SourceError


class UsageError(Exception):
    """Arguments that cannot work together; printed as `toolprmbench: <message>`, exit code 2."""


def say(text: object = "") -> None:
    """Print a line that may hold text from data or arguments (paths, names, error types):
    control characters shown as escapes, never sent to the terminal (safe_text)."""
    print(visible(text))


def _cmd_download(args: argparse.Namespace) -> int:
    for subset in args.subset:
        loaded = cached(subset)  # fetched unless the cache already holds a verified copy
        say(f"{subset:12s} {loaded.path}  sha256 {loaded.sha256}")
    return 0


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
        elif PINNED_FILES[subset].sha256 is None:  # ToolSandbox: checked against its first-used copy
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


def _cmd_shortcuts(args: argparse.Namespace) -> int:
    """Cases a weight-free heuristic solves in both orders: candidates for review or removal."""
    from toolprm_tasks.core.baselines import shortcut_solvable

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
                from toolprm_tasks.engines.factory import make_engine

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


def _validate_file(subset: str, path: Path) -> tuple[list[str], list[str]]:
    """Every problem and warning of one release file, read leniently so that one problem
    does not hide the others."""
    pin = PINNED_FILES[subset]
    problems: list[str] = []
    digest = sha256_file(path)
    if pin.sha256 is not None and digest != pin.sha256:
        problems.append(f"{path}: sha256 {digest} differs from the pinned {pin.sha256}")
    result = jsonio.inspect_records(path)
    problems += [str(p) for p in result.problems]
    if result.value is None:
        return problems, []
    check = check_records(result.value, subset=subset, source=pin.filename, skip=result.unreadable)
    problems += [f"{path.parent}/{e}" for e in check.errors]
    if isinstance(result.value, list) and result.value and len(result.value) != pin.cases:
        problems.append(f"{path}: {len(result.value)} records, the release has {pin.cases}")
    warnings = [f"{path.parent}/{w}" for w in check.warnings]
    if pin.sha256 is None:
        try:
            record = json.loads(first_use_path(pin).read_text(encoding="utf-8"))
            if isinstance(record, dict) and record.get("sha256") not in (None, digest):
                warnings.append(f"{path}: sha256 {digest} differs from {record['sha256']}, the copy first used on "
                                f"this machine ({first_use_path(pin)}); loading it needs TOOLPRMBENCH_ALLOW_UNPINNED=1")
        except (OSError, ValueError):
            pass  # no first-use record (or not one of ours): nothing to compare with
    return problems, warnings


def validate_dir(directory: Path) -> tuple[list[str], list[str]]:
    """Every problem of every file in a local copy (missing files, digests, unreadable JSON,
    every bad record and field), and warnings about suspicious records."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a folder")
    problems: list[str] = []
    warnings: list[str] = []
    for subset, pin in PINNED_FILES.items():
        path = directory / pin.filename
        if not path.is_file():
            problems.append(f"{path}: missing (subset {subset})")
            continue
        try:
            file_problems, file_warnings = _validate_file(subset, path)
        except OSError as exc:
            file_problems, file_warnings = [f"{path}: cannot be read ({exc.strerror or exc})"], []
        problems += file_problems
        warnings += file_warnings
    return problems, warnings


def _cmd_validate(args: argparse.Namespace) -> int:
    problems, warnings = validate_dir(Path(args.directory))
    for problem in problems:
        say(problem)
    for warning in warnings:
        say(f"warning: {warning}")
    say(f"{len(problems)} problem(s), {len(warnings)} warning(s) in {args.directory} "
        f"(pins: commit {PINNED_COMMIT[:12]})")
    return 1 if problems else 0


def _comma_list(values: Sequence[str]) -> tuple[str, ...]:
    """`--x a,b --x c` -> (a, b, c): every value of a repeated comma-list flag, once each."""
    items = (item.strip() for value in values for item in value.split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def _check_build_args(args: argparse.Namespace, sampling: tuple[str, ...]) -> None:
    """Refuse combinations that cannot work before any work is done."""
    unknown = [s for s in sampling if s not in ("rule", "policy", "online")]
    if unknown:
        raise UsageError(f"build: unknown --sampling {', '.join(unknown)}; use rule, policy, online")
    if ("policy" in sampling or "online" in sampling) and not args.policy:
        raise UsageError(f"build: --sampling {'policy' if 'policy' in sampling else 'online'} needs --policy MODEL "
                         "(an Inspect model name, e.g. hf/HuggingFaceTB/SmolLM2-135M-Instruct)")
    if "online" in sampling:
        if not args.annotator:
            raise UsageError("build: --sampling online needs --annotator MODEL (the model that finds the first "
                             "wrong step)")
        if any(source != "bfcl" for source in args.source):
            raise UsageError("build: --sampling online needs an executable environment: use it with --source bfcl "
                             "only")
    if "gta" in args.source:
        if not args.gta_dataset:
            raise UsageError("build: --source gta needs --gta-dataset PATH (your copy of GTA's dataset.json; "
                             "GTA is not on PyPI)")
        if not Path(args.gta_dataset).is_file():
            raise UsageError(f"build: --gta-dataset {args.gta_dataset}: no such file")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"build: --out {out}: exists and is not a folder")


def _cmd_build(args: argparse.Namespace) -> int:
    from toolprm_tasks.rebuild.build import Models, build
    from toolprm_tasks.rebuild.models import ModelError, check_models

    sampling = _comma_list(args.sampling or ["rule"])
    _check_build_args(args, sampling)
    gta = Path(args.gta_dataset) if args.gta_dataset else None
    judges = _comma_list(args.judges or [])
    try:
        audit_model = resolve_model(args.audit_model, option="--audit-model")
        check_models(args.policy, args.annotator, judges)  # every model made before any work
    except (ValueError, ModelError) as exc:
        raise UsageError(f"build: {exc}") from exc
    models = Models(policy=args.policy, annotator=args.annotator, judges=judges, sampling=sampling,
                    audit_model=audit_model)
    manifests = build(args.source, Path(args.out), seed=args.seed, gta_dataset=gta, models=models, limit=args.limit)
    for source, manifest in manifests.items():
        say(f"{source}: {manifest['cases']} cases -> {args.out}  fingerprint {manifest['fingerprint'][:16]}")
        say(f"  error types: {manifest['by_error_type']}")
        say(f"  execution check: {manifest['execution_check']}")
        say(f"  baseline accuracy (both orders): {manifest['baseline_accuracy_both_orders']}")
    return 0


class _Extend(argparse.Action):
    """nargs="+" that a repeated flag extends (`--x a --x b` -> [a, b]), each value once; the
    default is replaced, not extended (argparse's own "extend" would keep the defaults)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        items = [] if current is None or current is self.default else list(current)
        items += [v for v in values if v not in items]
        setattr(namespace, self.dest, items)


class _Once(argparse.Action):
    """A single-valued option given twice with different values is refused, not silently
    overridden by the last one."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = f"_{self.dest}_given"  # not the default's identity: argv strings may be interned
        current = getattr(namespace, self.dest, None)
        if getattr(namespace, given, False) and current != values:
            parser.error(f"{option_string} given twice ({current!r} and {values!r})")
        setattr(namespace, self.dest, values)
        setattr(namespace, given, True)


class SafeParser(argparse.ArgumentParser):
    """argparse echoes arguments in its errors (`invalid choice: ...`): shown through safe_text,
    so a control character in an argument never reaches the terminal. Its subparsers are of
    this class too (argparse makes them with the parent's class)."""

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(visible(message) if message else message, file)


def build_parser() -> argparse.ArgumentParser:
    parser = SafeParser(prog="toolprmbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    subset_help = "subsets, repeatable (default: all four)"
    download = sub.add_parser("download", help="fetch the pinned test files into the cache")
    download.add_argument("--subset", nargs="+", action=_Extend, choices=SUBSETS, default=list(SUBSETS),
                          help=subset_help)
    download.set_defaults(fn=_cmd_download)
    info = sub.add_parser("info", help="cases per subset, error type and cluster (default: the rebuilt set)")
    info.add_argument("--subset", nargs="+", action=_Extend, choices=SUBSETS, default=None,
                      help="subsets, repeatable (default: all of the chosen data)")
    info.add_argument("--data", choices=("rebuilt", "official"), default="rebuilt", action=_Once,
                      help="the rebuilt offline cases (default, as for audit and demo; built on first use, no "
                           "network) or the paper's official files (downloaded on first use)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(fn=_cmd_info)
    build_cmd = sub.add_parser("build", help="rebuild cases from executable sources")
    build_cmd.add_argument("--source", nargs="+", action=_Extend, choices=("bfcl", "tooltalk", "gta"), required=True,
                           help="sources to build, repeatable (gta needs --gta-dataset)")
    build_cmd.add_argument("--gta-dataset", action=_Once,
                           help="your copy of GTA's dataset.json (toolmeta.json beside it is used)")
    build_cmd.add_argument("--out", required=True, type=folder_name, action=_Once,
                           help="output folder (created; an existing file is refused)")
    build_cmd.add_argument("--seed", type=int, default=0, action=_Once,
                           help="seed of every random choice (default 0); same seed, same bytes")
    build_cmd.add_argument("--sampling", action="append",
                           help="comma list of rule (error injection), policy (offline proposals), online (BFCL "
                                "rollouts); repeatable (default: rule)")
    build_cmd.add_argument("--policy", action=_Once,
                           help="Inspect model name of the policy (policy and online sampling)")
    build_cmd.add_argument("--annotator", action=_Once,
                           help="Inspect model name that finds the first wrong step (online)")
    build_cmd.add_argument("--judges", action="append",
                           help="comma list of Inspect model names: the filtering panel; repeatable")
    build_cmd.add_argument("--limit", type=positive_int, action=_Once,
                           help="only the first N conversations of each source (N >= 1; leave it out for all)")
    build_cmd.add_argument("--audit-model", action=_Once, default="none",
                           help="the manifest audit's real-model column (minutes on a CPU): "
                           + MODEL_CHOICES_HELP.replace("; default", "") + " (default: none)")
    build_cmd.set_defaults(fn=_cmd_build)
    shortcuts = sub.add_parser("shortcuts", help="cases a baseline heuristic solves in both orders")
    shortcuts.add_argument("--subset", nargs="+", action=_Extend, choices=SUBSETS, default=list(SUBSETS),
                           help=subset_help)
    shortcuts.add_argument("--judge", nargs="+", action=_Extend, choices=("longer", "schema"),
                           default=["longer", "schema"], help="heuristics, repeatable (default: both)")
    shortcuts.add_argument("--json", action="store_true", help="machine-readable output")
    shortcuts.add_argument("--model", default="auto", help="real-model column: " + MODEL_CHOICES_HELP)
    shortcuts.add_argument("--model-cases", type=positive_int, default=DEFAULT_PER_SUBSET,
                           help=f"cases per subset the model judges (seeded subset; default {DEFAULT_PER_SUBSET})")
    shortcuts.set_defaults(fn=_cmd_shortcuts)
    validate = sub.add_parser("validate", help="check a local copy of the data folder: every problem, and warnings")
    validate.add_argument("directory", help="a folder holding the four release files")
    validate.set_defaults(fn=_cmd_validate)
    demo.register(sub)  # toolprm_tasks/demo.py
    model_command.register(sub)  # toolprm_tasks/cli/model.py
    report_command.register(sub)
    audit_command.register(sub)
    training_command.register(sub)  # toolprm_tasks/cli/train.py
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except DataUnavailable as exc:  # no network: the offline route in this command's words
        print(f"toolprmbench: {visible(exc.worded_for('toolprmbench', command=args.command))}", file=sys.stderr)
        return 2
    except (DataError, RecordError, jsonio.JSONFileError, SourceError, RealModelError, UsageError, OSError) as exc:
        # expected failures (bad data, bad arguments, a file system refusing): one clear message
        print(f"toolprmbench: {visible(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
