"""`toolprmbench export` and `toolprmbench train` (toolprm_tasks/training; docs/training.md).

    toolprmbench export --format reward --split train --out DIR            # TRL preference pairs
    toolprmbench export --format grpo --split train --out DIR --data official
    toolprmbench train reward --model DIR --out OUT [--max-steps N] [--data rebuilt|official]
    toolprmbench train grpo --model DIR --out OUT [--max-steps N]

`train` needs the optional extra `train` (TRL). The last line `train` prints is the output folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from toolprm_tasks.cli.common import UsageError
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.names import DATA_KINDS
from toolprm_tasks.training import recipes
from toolprm_tasks.training.export import FORMATS, REPORT_NAME, ExportError, build_rows, write_dataset
from toolprm_tasks.training.recipes import DEVICES, RECIPES
from toolprm_tasks.training.splits import default_subsets, load_split, training_split


def _subsets(args: argparse.Namespace) -> list[str] | None:
    """`--subset` as given; a source named twice would export or train every case twice."""
    named = args.subset or []
    twice = sorted({s for s in named if named.count(s) > 1})
    if twice:
        raise UsageError(f"{args.command}: --subset {', '.join(twice)} given twice; name each source once")
    return args.subset


def _export(args: argparse.Namespace) -> int:
    subsets = _subsets(args) or list(default_subsets(args.data))
    described = None
    if args.split == "train":  # the same leakage check as `train`: refused before anything is written
        split = training_split(args.data, subsets, args.data_seed)
        loaded, described = split.train, split.describe()
    else:
        loaded = [load_split(s, args.split, args.data, args.data_seed) for s in subsets]
    rows = build_rows(args.format, [c for item in loaded for c in item.cases], seed=args.seed)
    provenance = {"split": args.split, "data": args.data, "seed": args.seed, "data_seed": args.data_seed,
                  "files": {item.subset: item.fingerprint() for item in loaded}}
    if described is not None:  # as `train` records it: the held-out files and what they share
        provenance["training_split"] = described
    try:
        out = write_dataset(rows, Path(args.out), provenance)
    except ExportError as exc:
        print(f"toolprmbench export: {exc}", file=sys.stderr)
        return 2
    summary = rows.summary()
    skipped = {reason: item["count"] for reason, item in summary["skipped"].items()}
    print(f"{summary['rows']} {args.format} rows from {sum(len(i.cases) for i in loaded)} {args.data} {args.split} "
          f"cases ({', '.join(f'{k} {v}' for k, v in summary['rows_per_subset'].items())}); left out: "
          f"{json.dumps(skipped) if skipped else 'none'}")
    if summary["duplicates"]["count"]:  # kept as the data has them (the loader warned), but never uncounted
        print(f"  {summary['duplicates']['count']} row(s) repeat an earlier case (kept; listed in {REPORT_NAME}"
              " under `duplicates`)")
    print(out)
    return 0


# options that only one recipe reads: given to the other, they would be ignored silently
_RECIPE_ONLY = {"train_layers": "reward", "num_generations": "grpo", "max_completion_length": "grpo"}


def _train(args: argparse.Namespace) -> int:
    run = {"reward": recipes.train_reward, "grpo": recipes.train_grpo}[args.recipe]
    for name, recipe in _RECIPE_ONLY.items():
        if getattr(args, name) is not None and recipe != args.recipe:
            raise UsageError(f"train {args.recipe}: --{name.replace('_', '-')} applies to `train {recipe}` only")
    subsets = _subsets(args)
    overrides = {"max_length": args.max_length, "learning_rate": args.learning_rate, "epochs": args.epochs,
                 "batch_size": args.batch_size, "grad_accum": args.grad_accum}
    overrides.update({name: getattr(args, name) for name, recipe in _RECIPE_ONLY.items() if recipe == args.recipe})
    try:
        result = run(args.model, Path(args.out), data=args.data, subsets=subsets, max_steps=args.max_steps,
                     device=args.device, save_steps=args.save_steps, seed=args.seed, data_seed=args.data_seed,
                     **overrides)
    except recipes.TrainingError as exc:
        print(f"toolprmbench train: {exc}", file=sys.stderr)
        return 2
    record = result.record
    settings = record["settings"]
    timing = record["timing"]
    print(f"{args.recipe} on {record['device']} settings ({'the paper' if record['device'] == 'gpu' else 'small CPU'}): "
          + ", ".join(f"{k}={v}" for k, v in settings.items() if v not in (0, 0.0, None))
          + (f", max_steps={record['max_steps']} (the run's length: the epochs decide nothing)"
             if record.get("max_steps") else ""))
    for subset, tally in record["fitting"].items():
        print(f"  {subset}: {', '.join(f'{k} {v}' for k, v in sorted(tally.items()))}")
    if record["export"]["duplicates"]["count"]:
        print(f"  {record['export']['duplicates']['count']} training case(s) repeat an earlier case (kept, counted "
              f"in {recipes.RECORD_NAME})")
    if record.get("parameters"):
        counts = record["parameters"]
        print(f"  parameters: {counts['trainable']:,} trained, {counts['frozen']:,} frozen (--train-layers)")
    losses = record["losses"]
    print(f"{record['global_step']} steps in {timing['train_s']} s (mean step {timing['mean_step_s']} s); loss "
          + (f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "not logged"))
    print(result.out)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    """A finite number above 0 (a learning rate, epochs): 0, a negative or nan would train nothing
    or diverge, and the run would still end with exit code 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", choices=DATA_KINDS, default="rebuilt",
                        help="rebuilt offline cases (default) or the official release's training files")
    # repeated flags add up (docs/data.md); argparse's "extend" keeps a source named twice, refused in _subsets
    parser.add_argument("--subset", nargs="+", action="extend", default=None, choices=SUBSETS,
                        help="sources, each once (default: every source with a training split)")
    parser.add_argument("--data-seed", type=int, default=0, help="the rebuilt set's build seed (default 0)")


def register(sub: Any) -> None:
    export = sub.add_parser("export", help="the training split in TRL's dataset formats (datasets.save_to_disk)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--format", choices=FORMATS, required=True,
                        help="reward: preference pairs (RewardTrainer); grpo: prompts with labels (GRPOTrainer); "
                             "sft: prompts with answers")
    export.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    export.add_argument("--out", required=True, help="a new (or empty) folder; load it with datasets.load_from_disk")
    export.add_argument("--seed", type=int, default=0, help="candidate order of grpo/sft rows (default 0)")
    _add_data_args(export)
    export.set_defaults(fn=_export)

    train = sub.add_parser("train", help="train a judge with TRL (the `train` extra)", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("recipe", choices=RECIPES, help="reward: scalar reward model; grpo: the paper's GRPO judge")
    train.add_argument("--model", required=True, help="the base model's HF folder")
    train.add_argument("--out", required=True, help="a new (or empty) folder for the trained model")
    train.add_argument("--max-steps", type=_positive, default=None,
                       help="train N optimizer steps: the run's length, overriding the epochs (not with --epochs)")
    train.add_argument("--save-steps", type=_positive, default=None,
                       help="a model-only checkpoint-N folder every N steps (default: none)")
    train.add_argument("--device", choices=DEVICES, default="auto",
                       help="settings: the paper's (gpu) or small ones (cpu); auto: gpu when CUDA is there")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of the head, the data order, the sampling (the data build: --data-seed)")
    train.add_argument("--max-length", type=_positive, default=None,
                       help="token budget: a whole sequence (reward) or a prompt (grpo)")
    train.add_argument("--learning-rate", type=_positive_float, default=None,
                       help="override the settings' learning rate")
    train.add_argument("--epochs", type=_positive_float, default=None, help="override the settings' epochs")
    train.add_argument("--batch-size", type=_positive, default=None, help="per device: pairs or completions")
    train.add_argument("--grad-accum", type=_positive, default=None, help="gradient accumulation steps")
    train.add_argument("--train-layers", type=_positive, default=None,
                       help="reward: train only the top N decoder layers, the final norm and the head (CPU speed)")
    train.add_argument("--num-generations", type=_positive, default=None, help="grpo: G")
    train.add_argument("--max-completion-length", type=_positive, default=None, help="grpo: new tokens per answer")
    _add_data_args(train)
    train.set_defaults(fn=_train)
