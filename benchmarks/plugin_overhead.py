"""The plugin's own time per case (load, render, parse, score) through lm-eval and Inspect.

Runs the whole benchmark (all four subsets) with a baseline judge through both frameworks in
one process, timing only our code inside each framework (the functions the frameworks call
are wrapped with timers), and the frameworks' total wall time for context. Both frameworks
are imported before either runs; lm-eval's `parse+score` is Inspect's `parse` plus `score`.
Data: TOOLPRMBENCH_DATA_DIR if set, else a synthetic stand-in of the release's size
(benchmarks/synthetic_release.py). Goal: < 1 ms per case. Writes benchmarks/out/plugin_overhead.json.

    python benchmarks/plugin_overhead.py [--judge first] [--order seeded]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import TIMERS, machine, timed, write_result  # noqa: E402


def _reset_cache() -> None:
    from toolprm_tasks import data

    data.loaded._LOADED.clear()  # each framework loads and validates the files itself


def run_lm_eval(judge: str, order: str) -> dict[str, Any]:
    import lm_eval

    from toolprm_tasks.lm_eval_adapter import docs as lm_eval_docs
    from toolprm_tasks.lm_eval_adapter import scoring as lm_eval_adapter

    # Wrapped before lm-eval imports task_yaml/utils.py, which re-exports these names.
    lm_eval_docs.load_docs = timed("lm_eval.load+render", lm_eval_docs.load_docs)
    lm_eval_adapter.process_generative = timed("lm_eval.parse+score", lm_eval_adapter.process_generative)
    for name in list(lm_eval_adapter.__all__):
        if name.startswith("agg_"):
            setattr(lm_eval_adapter, name, timed("lm_eval.aggregate", getattr(lm_eval_adapter, name)))
    _reset_cache()
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model="toolprm-baseline", model_args=f"judge={judge}", tasks=["toolprmbench"],
                                  metadata={"order": order}, log_samples=False)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "avg_acc": out["results"]["toolprmbench"]["acc,none"]}


def run_inspect(judge: str, order: str, log_dir: str) -> dict[str, Any]:
    from inspect_ai import eval as run_eval

    from toolprm_tasks.inspect_adapter import scorer as inspect_adapter
    from toolprm_tasks.inspect_adapter import tasks as inspect_tasks

    # parse: the answer readers the scorer dispatches to; score: the outcome of a trial, timed
    # only when the scorer makes it (the metrics rebuild outcomes too: that is aggregation)
    for reads, reader in list(inspect_adapter.READERS.items()):
        inspect_adapter.READERS[reads] = timed("inspect.parse", reader)
    in_metrics = [False]
    score_outcome = timed("inspect.score", inspect_adapter.outcome)
    plain_outcome = inspect_adapter.outcome
    inspect_adapter.outcome = lambda *a, **k: (plain_outcome if in_metrics[0] else score_outcome)(*a, **k)
    outcomes = inspect_adapter._outcomes

    def metric_outcomes(scores: Any) -> Any:
        in_metrics[0] = True
        try:
            return outcomes(scores)
        finally:
            in_metrics[0] = False

    inspect_adapter._outcomes = timed("inspect.aggregate", metric_outcomes)
    inspect_adapter.aggregate = timed("inspect.aggregate", inspect_adapter.aggregate)
    _reset_cache()
    start = time.perf_counter()
    task = timed("inspect.load+render", inspect_tasks.toolprmbench_task)(
        ["gta", "tooltalk", "bfcl", "toolsandbox"], order=order)
    log = run_eval(task, model=f"toolprm-baseline/{judge}", log_dir=log_dir, display="none")[0]
    wall = time.perf_counter() - start
    metrics = {n: m.value for s in log.results.scores for n, m in s.metrics.items()}
    return {"wall_s": wall, "avg_acc": metrics["avg"], "status": log.status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", default="schema")
    parser.add_argument("--order", default="seeded")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "plugin_overhead.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_note = "TOOLPRMBENCH_DATA_DIR"
        if not os.environ.get("TOOLPRMBENCH_DATA_DIR"):
            from benchmarks.synthetic_release import write_synthetic_release

            write_synthetic_release(Path(tmp) / "data")
            os.environ["TOOLPRMBENCH_DATA_DIR"] = str(Path(tmp) / "data")
            os.environ["TOOLPRMBENCH_ALLOW_UNPINNED"] = "1"
            data_note = "synthetic stand-in with the release's case counts and bytes per case"
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        from toolprm_tasks.data import load_subsets

        cases = sum(len(s.cases) for s in load_subsets(["gta", "tooltalk", "bfcl", "toolsandbox"]))
        # both frameworks and our adapters imported before either is timed: the first one run
        # paid the imports (lm-eval, always first, ran cold)
        import inspect_ai  # noqa: F401
        import lm_eval  # noqa: F401

        import toolprm_tasks.inspect_adapter.tasks  # noqa: F401
        import toolprm_tasks.lm_eval_adapter.scoring  # noqa: F401
        TIMERS.clear()
        trials = cases * (2 if args.order == "both" else 1)
        lm = run_lm_eval(args.judge, args.order)
        ins = run_inspect(args.judge, args.order, str(Path(tmp) / "logs"))

    def per_case_ms(prefix: str) -> dict[str, float]:
        parts = {k.split(".", 1)[1]: v * 1000 / trials for k, v in TIMERS.items() if k.startswith(prefix)}
        parts["total"] = sum(parts.values())
        return parts

    result = {
        "benchmark": "plugin_overhead", "data": data_note, "cases": cases, "trials": trials,
        "judge": args.judge, "order": args.order,
        "machine": machine(),
        "lm_eval": {"plugin_ms_per_trial": per_case_ms("lm_eval."), "framework_wall_ms_per_trial": lm["wall_s"] * 1000 / trials,
                    "avg_acc": lm["avg_acc"]},
        "inspect": {"plugin_ms_per_trial": per_case_ms("inspect."), "framework_wall_ms_per_trial": ins["wall_s"] * 1000 / trials,
                    "avg_acc": ins["avg_acc"]},
        "goal_ms_per_case": 1.0,
    }
    result["lm_eval"]["plugin_share_of_wall"] = result["lm_eval"]["plugin_ms_per_trial"]["total"] / result["lm_eval"]["framework_wall_ms_per_trial"]
    result["inspect"]["plugin_share_of_wall"] = result["inspect"]["plugin_ms_per_trial"]["total"] / result["inspect"]["framework_wall_ms_per_trial"]
    result["same_avg_in_both"] = abs(lm["avg_acc"] - ins["avg_acc"]) < 1e-12
    write_result("plugin_overhead", result, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
