"""A trained judge, honestly sized: SmolLM2-135M-Instruct as a reward model (issue 20, item 6).

1. `toolprmbench model smollm2` (the real model as an HF folder);
2. `train_reward` (toolprmbench train reward) on the rebuilt training split, a model-only
   checkpoint every `--save-steps`; the untrained model is the same base with TRL's seeded
   random head (`step-0`);
3. every checkpoint, the untrained model and the weight-free baselines scored on a seeded,
   error-type-balanced subset of the held-out rebuilt test split (`--eval-per-subset` cases per
   source, one seeded candidate order, pairwise prompts up to `--max-chars`: the demo's rule):
   through lm-eval (`toolprm-hf`, kind=classifier, `toolprmbench_rebuilt_prm`) and through
   Inspect (`toolprm-hf/DIR`, the rebuilt tasks, pointwise), with the clustered SE;
4. the checkpoints as judges in `benchmarks/search_experiment.py` (`--judge-model`), so the
   accuracy -> gain fit gets points between chance and the oracle (`--search-limit 0`: skip).

Everything is written to `--out-dir` (default benchmarks/out/training_figure/) and the figures to
benchmarks/out/training_figure.json. `make train-figure` runs it with the CPU setting of
docs/training.md; on a GPU pass `--device gpu` and larger numbers.

    python benchmarks/training_figure.py [--steps 120] [--save-steps 40] [--max-length 512] [--train-layers 6]
        [--eval-per-subset 10] [--max-chars 14000] [--search-limit 5] [--search-ks 4] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import OUT, machine, write_result  # noqa: E402

# One seeded order per case (half chosen-first per source): a pointwise judge scores each candidate on
# its own, so the swapped order would repeat every request for the same pick (and double the CPU time).
ORDER = "seeded"
SUBSET_TASKS = {"bfcl": "toolprm_tasks.bfcl:bfcl", "tooltalk": "toolprm_tasks.tooltalk:tooltalk"}


def untrained_classifier(base: str, folder: Path, seed: int) -> Path:
    """The base model with the head TRL's RewardTrainer starts from (same seed, one label)."""
    if (folder / "config.json").is_file():
        return folder
    from transformers import AutoModelForSequenceClassification, set_seed

    from toolprm_tasks.training.recipes import load_tokenizer

    tokenizer, _ = load_tokenizer(base)
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype="float32")
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def checkpoints(run_dir: Path) -> list[tuple[str, Path]]:
    """(name, folder) of every saved checkpoint, then the final model if it is not the last one."""
    found = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    named = [(f"step-{p.name.split('-')[1]}", p) for p in found]
    record = json.loads((run_dir / "toolprm_training.json").read_text(encoding="utf-8"))
    if not named or named[-1][0] != f"step-{record['global_step']}":
        named.append((f"step-{record['global_step']}", run_dir))
    return named


def lm_eval_row(lm: Any, suite: Any, suffix: str, samples: dict[str, list[int]], chosen: set[str],
                name: str) -> dict[str, Any]:
    from toolprm_tasks.demo import check_cases, evaluate, row_metrics

    out = evaluate(lm, suite, suffix, order=ORDER, samples=samples)
    check_cases(out, suite, suffix, chosen, name)
    per_subset = {s: {k.split(",")[0]: v for k, v in out["results"][suite.task(s, suffix)].items()
                      if k.split(",")[0] in ("acc", "acc_cluster_se", "consistency", "truncated")}
                  for s in suite.subsets}
    return {"row": row_metrics(out, suite, suffix), "per_subset": per_subset}


def inspect_row(folder: Path, chosen: set[str], log_dir: Path, device: str) -> dict[str, Any]:
    """The same cases through Inspect: each source's rebuilt task, pointwise, the seeded order."""
    import importlib

    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    model = get_model(f"toolprm-hf/{folder}", kind="classifier", device=device, memoize=False)
    row: dict[str, Any] = {}
    for subset, where in SUBSET_TASKS.items():
        module, name = where.split(":")
        task = getattr(importlib.import_module(module), name)(protocol="pointwise", order=ORDER, data="rebuilt")
        ids = sorted(cid for cid in chosen if cid.startswith(f"{subset}-"))  # seeded order: trial id = case id
        log = inspect_eval(task, model=model, sample_id=ids, log_dir=str(log_dir), display="none")[0]
        if log.status != "success" or len(log.samples) != len(ids):
            raise RuntimeError(f"Inspect {subset} on {folder}: {log.status} ({log.error})")
        metrics = {n: m.value for s in log.results.scores for n, m in s.metrics.items()}
        row[subset] = {k: metrics[k] for k in ("acc", "acc_cluster_se", "consistency", "truncated") if k in metrics}
    row["AVG"] = sum(row[s]["acc"] for s in SUBSET_TASKS) / len(SUBSET_TASKS)
    return row


def run_search(judges: list[tuple[str, Path]], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """benchmarks/search_experiment.py with the checkpoints as classifier judges (own process)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "search_experiment.py"), "--limit", str(args.search_limit),
               "--ks", args.search_ks, "--acc-limit", str(args.search_acc_limit), "--real-model", "none",
               "--judge-backend", args.search_backend, "--out", str(out)]
    for name, folder in judges:
        command += ["--judge-model", f"{name}={folder}"]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    (out.parent / "search_experiment.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"search_experiment failed ({proc.returncode}); see {out.parent / 'search_experiment.log'}")
    return {"file": str(out), "seconds": round(time.perf_counter() - started, 1),
            "fits": json.loads(out.read_text(encoding="utf-8"))["fits"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120, help="optimizer steps (CPU setting: docs/training.md)")
    parser.add_argument("--save-steps", type=int, default=40, help="a checkpoint every N steps")
    parser.add_argument("--max-length", type=int, default=None, help="training token budget per sequence "
                        "(default: the recipe's setting, 512 on a CPU)")
    parser.add_argument("--train-layers", type=int, default=None, help="train only the top N layers (default: "
                        "the recipe's setting, 6 of 30 on a CPU)")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the recipe's setting")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-per-subset", type=int, default=10, help="held-out cases per source (0: all)")
    parser.add_argument("--max-chars", type=int, default=14000, help="pairwise prompt budget of evaluated cases")
    parser.add_argument("--search-limit", type=int, default=5, help="conversations per search run (0: no search)")
    parser.add_argument("--search-ks", default="4", help="replay candidates per step")
    parser.add_argument("--search-acc-limit", type=int, default=20, help="rebuilt BFCL pairs for the search's accuracy")
    parser.add_argument("--search-backend", default="hf", choices=("hf", "vllm"))
    parser.add_argument("--out-dir", type=Path, default=OUT / "training_figure")
    args = parser.parse_args()

    import lm_eval.models  # noqa: F401 - registers lm-eval's models (and, through our hook, ours)
    import torch
    from lm_eval.api.registry import get_model

    from toolprm_tasks.baselines import JUDGES
    from toolprm_tasks.data import REBUILT_SUBSETS, load_subsets
    from toolprm_tasks.demo import Suite, real_subset
    from toolprm_tasks.real_model import ensure_model
    from toolprm_tasks.subsample import describe
    from toolprm_tasks.training.recipes import resolve_device, train_reward

    started = time.perf_counter()
    device = resolve_device(args.device)
    torch_device = "cuda" if device == "gpu" else "cpu"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    base = str(ensure_model())
    run_dir = args.out_dir / "reward"
    timings: dict[str, float] = {}
    if not (run_dir / "toolprm_training.json").is_file():  # a finished run is reused (the evaluation is re-run)
        run = train_reward(base, run_dir, max_steps=args.steps, save_steps=args.save_steps, device=device,
                           seed=args.seed, max_length=args.max_length, learning_rate=args.learning_rate,
                           train_layers=args.train_layers)
        timings["train"] = run.record["timing"]["train_s"]
    training = json.loads((run_dir / "toolprm_training.json").read_text(encoding="utf-8"))
    judges = [("untrained", untrained_classifier(base, args.out_dir / "step-0", args.seed)), *checkpoints(run_dir)]

    suite = Suite("toolprmbench_rebuilt", tuple(REBUILT_SUBSETS))
    loaded = load_subsets(suite.subsets, data="rebuilt")  # the test split: held out
    per_subset = args.eval_per_subset or max(len(item.cases) for item in loaded)
    chosen, description, indices = real_subset(loaded, per_subset, args.seed, args.max_chars, order=ORDER)
    samples_prm = {suite.task(s, "_prm"): indices[s] for s in suite.subsets}
    samples_gen = {suite.task(s, ""): indices[s] for s in suite.subsets}
    rows: dict[str, Any] = {}
    for judge in JUDGES:
        lm = get_model("toolprm-baseline").create_from_arg_obj({"judge": judge})
        rows[f"baseline {judge}"] = {"lm_eval": lm_eval_row(lm, suite, "", samples_gen, chosen, judge)}
    for name, folder in judges:
        tick = time.perf_counter()
        lm = get_model("toolprm-hf").create_from_arg_obj({"pretrained": str(folder), "kind": "classifier",
                                                           "device": torch_device})
        rows[name] = {"folder": str(folder), "lm_eval": lm_eval_row(lm, suite, "_prm", samples_prm, chosen, name)}
        del lm
        rows[name]["inspect"] = inspect_row(folder, chosen, args.out_dir / "inspect-logs" / name, torch_device)
        timings[f"eval {name}"] = round(time.perf_counter() - tick, 1)
        print(f"{name}: lm-eval {rows[name]['lm_eval']['row']}  inspect {rows[name]['inspect']}", flush=True)
    search = None
    if args.search_limit:
        search = run_search(judges, args, args.out_dir / "search_experiment.json")
        timings["search"] = search["seconds"]
    timings["total"] = round(time.perf_counter() - started, 1)
    write_result("training_figure", {
        "benchmark": "training_figure", "machine": machine(), "device": device,
        "torch_threads": torch.get_num_threads(), "settings": vars(args) | {"out_dir": str(args.out_dir)},
        "training": {k: training[k] for k in ("settings", "fitting", "losses", "timing", "global_step", "data",
                                               "export", "versions")},
        "eval_subset": description, "eval_subset_text": describe(description), "case_ids": sorted(chosen),
        "order": ORDER, "rows": rows, "search": search, "seconds": timings,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
