"""Does benchmark accuracy predict search gain? (ToolPRMBench, arXiv 2601.12294, section 5.1)

For each judge: its accuracy on the rebuilt BFCL pairs (the Inspect `bfcl` task, `-T
data=rebuilt`, pointwise as in the search, both orders) and its gain in the search task
(`toolprm_search`, replay policy `toolprm-replay/K` with N=K candidates per step): success under
the judge minus success of the policy alone (`first`) and of self-consistency (`majority`), on
the same conversations (paired, in the same log). Judges: the weight-free baselines, the oracle
(a perfect judge: accuracy 100 by definition) and a real model when one is available offline.
Then the least-squares line gain = a * accuracy + b (points), next to the paper's BFCL fit
(gain = 0.13 * acc - 6.70, best-of-8 with real policies).

Writes benchmarks/out/search_experiment.json (and keeps the Inspect logs with --log-dir).

    python benchmarks/search_experiment.py [--categories base] [--limit 10] [--ks 2,4,8]
        [--judges random,first,longer,schema] [--acc-limit N] [--real-model auto|DIR|none]
        [--real-backend vllm|hf] [--judge-model NAME=DIR ...] [--judge-backend hf|vllm] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, write_result  # noqa: E402
from toolprm_tasks.report.paper import SEARCH_FITS  # noqa: E402
from toolprm_tasks.report.search_reader import least_squares  # noqa: E402

PAPER_FIT = {"slope": SEARCH_FITS["bfcl"][0], "intercept": SEARCH_FITS["bfcl"][1],
             "source": "paper section 5.1, BFCL, best-of-8"}


def _metrics(log: Any) -> dict[str, float]:
    return {name: m.value for score in log.results.scores for name, m in score.metrics.items()}


def _eval(task: Any, model: Any, log_dir: str, **kwargs: Any) -> Any:
    from inspect_ai import eval as inspect_eval

    log = inspect_eval(task, model=model, log_dir=log_dir, display="none", **kwargs)[0]
    if log.status != "success":
        raise RuntimeError(f"{task.name}: {log.status}: {log.error}")
    return log


def accuracy(judge: Any, log_dir: str, limit: int | None) -> float:
    """The judge's accuracy on the rebuilt BFCL pairs, pointwise (as it judges in the search)."""
    from toolprm_tasks.bfcl import bfcl

    return float(_metrics(_eval(bfcl(protocol="pointwise", order="both", data="rebuilt"), judge, log_dir,
                                limit=limit))["acc"])


def search(k: int, selector: str, judge: Any, args: argparse.Namespace, log_dir: str) -> dict[str, Any]:
    from inspect_ai.model import get_model

    from toolprm_tasks.search import toolprm_search

    task = toolprm_search(category=args.categories, n=k, selector=selector, compare=True, max_steps=args.max_steps)
    roles = {"judge": judge} if judge is not None else None
    start = time.perf_counter()
    metrics = _metrics(_eval(task, get_model(f"toolprm-replay/{k}"), log_dir, limit=args.limit, model_roles=roles))
    keep = ("success", "success_first", "success_majority", "gain_first", "gain_first_se", "gain_majority",
            "gain_majority_se", "turn_success", "turn_success_first", "turn_gain_first", "judge_agreement", "first_agreement", "majority_agreement",
            "judge_calls_per_step", "distinct_per_step", "step_limit_hits", "fallback_steps")
    row = {name: metrics.get(name, math.nan) for name in keep}
    row["wall_s"] = round(time.perf_counter() - start, 1)
    return row


def fit(points: list[tuple[float, float]]) -> dict[str, float] | None:
    """Least squares gain = slope * acc + intercept (acc and gain in points), rounded."""
    line = least_squares(points)
    if line is None:
        return None
    return {"slope": round(line["slope"], 4), "intercept": round(line["intercept"], 3), "points": line["points"]}


def real_model(option: str) -> tuple[str | None, str]:
    """A local real model folder: given, or from `toolprmbench model smollm2`; else why not."""
    if option == "none":
        return None, "not requested"
    if option != "auto":
        return option, "given"
    try:
        proc = subprocess.run([str(Path(sys.executable).parent / "toolprmbench"), "model", "smollm2"],
                              capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"pending: `toolprmbench model smollm2` could not run ({exc})"
    folder = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else ""
    if folder and Path(folder).is_dir():
        return folder, "toolprmbench model smollm2"
    return None, f"pending: `toolprmbench model smollm2` gave no model folder ({(proc.stderr or proc.stdout).strip()[-200:]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default="base", help="BFCL multi-turn categories (comma-separated, or all)")
    parser.add_argument("--limit", type=int, default=10, help="conversations per search run")
    parser.add_argument("--ks", default="2,4,8", help="replay candidates per step (N = K)")
    parser.add_argument("--judges", default="random,first,longer,schema", help="baseline judges")
    parser.add_argument("--acc-limit", type=int, default=0, help="rebuilt BFCL pairs for accuracy (0: all)")
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--real-model", default="auto", help="auto (toolprmbench model smollm2), a folder, or none")
    parser.add_argument("--real-backend", default="vllm", choices=("vllm", "hf"),
                        help="the real model's scoring engine (vllm: prefix caching shares each step's history)")
    parser.add_argument("--judge-model", action="append", default=[],
                        help="NAME=DIR: a trained classifier judge (toolprmbench train reward), repeatable")
    parser.add_argument("--judge-backend", default="hf", choices=("vllm", "hf"), help="the engine of --judge-model")
    parser.add_argument("--out", default="", help="JSON file (default benchmarks/out/search_experiment.json)")
    parser.add_argument("--log-dir", default="", help="keep the Inspect logs here (default: a temporary folder)")
    args = parser.parse_args()

    from inspect_ai.model import get_model

    ks = [int(k) for k in args.ks.split(",")]
    judges: dict[str, Any] = {name: f"toolprm-baseline/{name}" for name in args.judges.split(",") if name}
    folder, real_note = real_model(args.real_model)
    if folder:
        from toolprm_tasks.engines.vllm_engine import GPU_DEFAULTS, _default_context

        # BFCL's tool specifications alone can pass vLLM's CPU default context (4,096): the model's own
        own_context = _default_context(folder, GPU_DEFAULTS["max_model_len"])
        options = {"device": "cpu"} if args.real_backend == "hf" else {"max_length": own_context}
        judges["smollm2-verifier"] = get_model(f"toolprm-{args.real_backend}/{folder}", kind="verifier", **options)
    for spec in args.judge_model:  # trained reward models: scored pointwise, as the search judges them
        name, _, model_dir = spec.partition("=")
        if not name or not Path(model_dir).is_dir():
            parser.error(f"--judge-model {spec!r}: expected NAME=DIR with an existing folder")
        if args.judge_backend == "hf":
            import torch

            options = {"device": "cuda" if torch.cuda.is_available() else "cpu"}
        else:
            from toolprm_tasks.engines.vllm_engine import GPU_DEFAULTS, _default_context

            options = {"max_length": _default_context(model_dir, GPU_DEFAULTS["max_model_len"])}
        judges[name] = get_model(f"toolprm-{args.judge_backend}/{model_dir}", kind="classifier", **options)
    with tempfile.TemporaryDirectory() as scratch:
        log_dir = args.log_dir or scratch
        acc = {name: accuracy(judge, log_dir, args.acc_limit or None) for name, judge in judges.items()}
        acc["oracle"] = 1.0  # a perfect judge: it knows the gold step
        rows = []
        for k in ks:
            for name, judge in [*judges.items(), ("oracle", None)]:
                row = search(k, "oracle" if judge is None else "judge", judge, args, log_dir)
                rows.append({"k": k, "judge": name, "accuracy": acc[name], **row})
                print(f"K={k} {name:>18}: acc {100 * acc[name]:5.1f}  success {row['success']:.3f}  "
                      f"first {row['success_first']:.3f}  majority {row['success_majority']:.3f}  "
                      f"gain {100 * row['gain_first']:+5.1f}  turn gain {100 * row['turn_gain_first']:+5.1f}  "
                      f"agreement {row['judge_agreement']:.3f}", flush=True)
    fits = {}
    for k in ks:
        of_k = [r for r in rows if r["k"] == k]
        fits[f"K={k}"] = {
            f"{gain}_{which}": fit([(100 * r["accuracy"], 100 * r[gain]) for r in of_k
                                    if which == "all_judges" or r["judge"] != "oracle"])
            for gain in ("gain_first", "turn_gain_first") for which in ("all_judges", "without_oracle")}
    for row in rows:
        row["paper_fit_gain"] = round(PAPER_FIT["slope"] * 100 * row["accuracy"] + PAPER_FIT["intercept"], 2)
    write_result("search_experiment", {
        "machine": machine(), "settings": {**vars(args), "policy": "toolprm-replay/K (N=K)"},
        "real_model": real_note, "accuracy_rebuilt_bfcl": acc, "rows": rows, "fits": fits, "paper_fit": PAPER_FIT,
        "note": "gain in points = 100 * (success under the judge - success of the policy alone), paired per "
                "conversation; the paper's gains come from real policies on its own data, ours from the replay "
                "policy on BFCL's conversations: compare the shape (slope, break-even), not the level",
    }, Path(args.out) if args.out else None)


if __name__ == "__main__":
    main()
