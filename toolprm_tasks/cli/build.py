"""`toolprmbench build`: rebuild cases from executable sources (`toolprm_tasks.rebuild`).

Without arguments it builds the default rebuilt set (BFCL and ToolTalk, rule sampling, seed 0)
into the folder every loader reads (`data.default_rebuilt_dir`): loading never builds, so this
is the step that makes the offline tasks, `info`, `audit` and `demo` work. `--out DIR` writes a
build anywhere else (read with TOOLPRMBENCH_REBUILT_DIR=DIR).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from toolprm_tasks.cli.arg_types import folder_name, positive_int
from toolprm_tasks.cli.common import Extend, Once, UsageError, comma_list, say
from toolprm_tasks.data import REBUILT_SUBSETS, build_default, default_rebuilt_dir
from toolprm_tasks.model_check import MODEL_CHOICES_HELP, resolve_model


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
    if not sampling:  # `--sampling ""` or ",": no method, a build of no case
        raise UsageError("build: --sampling names no method: give rule, policy or online (comma-separated)")
    if len(set(args.source)) != len(args.source):
        raise UsageError(f"build: --source names a source twice ({' '.join(args.source)})")
    if args.out is None:
        _check_default_build_args(args, sampling)
        return
    if args.if_missing:
        raise UsageError("build: --if-missing concerns the default set: leave out --out")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"build: --out {out}: exists and is not a folder")
    above = next((p for p in out.absolute().parents if p.exists()), None)  # where it would be created
    if above is not None and not above.is_dir():
        raise UsageError(f"build: --out {out}: {above} is a file, not a folder (refused before any work)")
    if above is not None and not os.access(above, os.W_OK | os.X_OK):
        raise UsageError(f"build: --out {out}: {above} is not writable (refused before any work)")


def _check_default_build_args(args: argparse.Namespace, sampling: tuple[str, ...]) -> None:
    """Without --out the build is the default set the loaders read: only its own options."""
    other = [f"--source {s}" for s in args.source if s not in REBUILT_SUBSETS]
    other += ["--sampling " + ",".join(sampling)] if sampling != ("rule",) else []
    other += [f"--{name.replace('_', '-')}" for name in ("limit", "policy", "annotator", "judges", "gta_dataset")
              if getattr(args, name)]
    if other:
        raise UsageError(f"build: {', '.join(other)} makes a build other than the default set: name its folder "
                         "with --out DIR (and read it with TOOLPRMBENCH_REBUILT_DIR=DIR)")


def _cmd_build(args: argparse.Namespace) -> int:
    # lazy: rebuild.build and rebuild.models import inspect_ai: every other command starts without it
    from toolprm_tasks.rebuild.build import Models, build
    from toolprm_tasks.rebuild.models import ModelError, check_models  # lazy: as above

    args.source = args.source or list(REBUILT_SUBSETS)
    sampling = comma_list(args.sampling or ["rule"])
    _check_build_args(args, sampling)
    gta = Path(args.gta_dataset) if args.gta_dataset else None
    judges = comma_list(args.judges or [])
    try:
        audit_model = resolve_model(args.audit_model, option="--audit-model")
        check_models(args.policy, args.annotator, judges)  # every model made before any work
    except (ValueError, ModelError) as exc:
        raise UsageError(f"build: {exc}") from exc
    models = Models(policy=args.policy, annotator=args.annotator, judges=judges, sampling=sampling,
                    audit_model=audit_model)
    if args.out is None:  # the default set, where the loaders read it
        out = default_rebuilt_dir(args.seed)
        manifests = build_default(args.seed, args.source, missing_only=args.if_missing, audit_model=audit_model)
        if not manifests:
            say(f"the default rebuilt set is built already: {out}")
    else:
        out = Path(args.out)
        try:
            manifests = build(args.source, out, seed=args.seed, gta_dataset=gta, models=models, limit=args.limit)
        except ModelError as exc:  # a provider's failure mid-build: one line naming the model (exit 2)
            raise UsageError(f"build: {exc}") from None
    for source, manifest in manifests.items():
        say(f"{source}: {manifest['cases']} cases -> {out}  fingerprint {manifest['fingerprint'][:16]}")
        say(f"  error types: {manifest['by_error_type']}")
        say(f"  execution check: {manifest['execution_check']}")
        say(f"  baseline accuracy (both orders): {manifest['baseline_accuracy_both_orders']}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to `toolprmbench` (cli.build_parser)."""
    build_cmd = sub.add_parser("build", help="rebuild cases from executable sources (no arguments: the default "
                                             "rebuilt set the offline tasks read)",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build_cmd.add_argument("--source", nargs="+", action=Extend, choices=("bfcl", "tooltalk", "gta"),
                           help="sources to build, repeatable (gta needs --gta-dataset; default: "
                                f"{' and '.join(REBUILT_SUBSETS)})")
    build_cmd.add_argument("--gta-dataset", action=Once,
                           help="your copy of GTA's dataset.json (toolmeta.json beside it is used)")
    build_cmd.add_argument("--out", type=folder_name, action=Once,
                           help="output folder (created; an existing file is refused); default: the default "
                                "rebuilt set's cache folder, which the loaders read")
    build_cmd.add_argument("--if-missing", action="store_true",
                           help="without --out: build only the default set's sources not built yet (what the "
                                "make targets run)")
    build_cmd.add_argument("--seed", type=int, default=0, action=Once,
                           help="seed of every random choice (default 0); same seed, same bytes")
    build_cmd.add_argument("--sampling", action="append",
                           help="comma list of rule (error injection), policy (offline proposals), online (BFCL "
                                "rollouts); repeatable (default: rule)")
    build_cmd.add_argument("--policy", action=Once,
                           help="Inspect model name of the policy (policy and online sampling)")
    build_cmd.add_argument("--annotator", action=Once,
                           help="Inspect model name that finds the first wrong step (online)")
    build_cmd.add_argument("--judges", action="append",
                           help="comma list of Inspect model names: the filtering panel; repeatable")
    build_cmd.add_argument("--limit", type=positive_int, action=Once,
                           help="only the first N conversations of each source (N >= 1; leave it out for all)")
    build_cmd.add_argument("--audit-model", action=Once, default="none",
                           help="the manifest audit's real-model column (minutes on a CPU): "
                           + MODEL_CHOICES_HELP.replace("; default", "") + " (default: none)")
    build_cmd.set_defaults(fn=_cmd_build)
