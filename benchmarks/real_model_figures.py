"""SmolLM2-135M-Instruct on the rebuilt set: the first real-model figures of the project.

Four protocols, both candidate orders, through lm-eval's own `simple_evaluate`:
- generative: the paper's standard prompt, lm-eval `hf` with the model's chat template, greedy;
- pairwise_ll: log-likelihood of the two answer labels after the prompt (no template);
- pointwise: each candidate's log-likelihood after the history (per character, no template);
- verifier: P(Yes) / (P(Yes) + P(No)) per candidate through `toolprm-vllm` (own process).
The weight-free baselines run on the same cases for reference.

On a GPU run the whole set (`--per-subset 0`); on a CPU the largest seeded, balanced subset
that fits about 30 minutes (`toolprm_tasks.subsample`, the same rule as the demo's rows).
Framework output goes to benchmarks/out/real_model_figures.log; the figures, with the
machine, the subset, the build version and the time taken, to
benchmarks/out/real_model_figures.json.

    python benchmarks/real_model_figures.py [--per-subset 10] [--gen-tokens 256] [--max-chars 14000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ("generative", "pairwise_ll", "pointwise", "verifier")
SUFFIX = {"generative": "", "pairwise_ll": "_pairwise_ll", "pointwise": "_pointwise", "verifier": "_prm"}


def task_metrics(out: dict[str, Any], suite: Any, suffix: str) -> dict[str, dict[str, float]]:
    """Every numeric metric of every subset's task (per-error-type accuracy included)."""
    per_task = {}
    for subset in suite.subsets:
        values = out["results"][suite.task(subset, suffix)]
        per_task[subset] = {k.split(",")[0]: v for k, v in values.items()
                            if k.endswith(",none") and isinstance(v, (int, float))}
    return per_task


def answer_report(out: dict[str, Any], suite: Any) -> dict[str, Any]:
    """What the generative answers look like: parse outcomes by rule, and a few examples."""
    from scorers.core import parse_pairwise_answer

    answers = [s["resps"][0][0] for subset in suite.subsets for s in out["samples"][suite.task(subset, "")]]
    parsed = [parse_pairwise_answer(a) for a in answers]
    return {"parsed_by": dict(Counter(p.how for p in parsed).most_common()),
            "picks": dict(Counter(str(p.pick) for p in parsed)),
            "examples": [a[:240] for a in answers[:4]]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-subset", type=int, default=10, help="cases per source; 0: every case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-chars", type=int, default=14_000, help="longest pairwise prompt (characters)")
    parser.add_argument("--gen-tokens", type=int, default=256, help="new tokens per generated answer")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--batch-size", type=int, default=1,
                        help="requests per forward pass of the hf rows (1 on a CPU; a GPU run of the whole set "
                             "needs more: benchmarks/gpu_checks.py uses 32)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import lm_eval.models  # noqa: F401 - registers lm-eval's models (and, through our hook, ours)
    import torch
    from lm_eval.api.registry import get_model

    from benchmarks._common import OUT, machine, write_result
    from toolprm_tasks.baselines import JUDGES
    from toolprm_tasks.data import REBUILT_SUBSETS, fingerprint, load_subsets
    from toolprm_tasks.demo import (
        Suite,
        answers_at_cap,
        check_cases,
        evaluate,
        real_subset,
        row_metrics,
        run_verifier_row,
    )
    from toolprm_tasks.progress_lm import BarProgress, ProgressLM, chatter_to
    from toolprm_tasks.real_model import check_folder, ensure_model
    from toolprm_tasks.rebuild.build import BUILD_VERSION
    from toolprm_tasks.subsample import describe

    started = time.perf_counter()
    folder = ensure_model()
    suite = Suite("toolprmbench_rebuilt", tuple(REBUILT_SUBSETS))
    loaded = load_subsets(suite.subsets, data="rebuilt")
    per_subset = args.per_subset or max(len(item.cases) for item in loaded)
    max_chars = args.max_chars if args.per_subset else 10**9  # the whole set: no budget
    chosen, description, indices = real_subset(loaded, per_subset, args.seed, max_chars)
    result: dict[str, Any] = {
        "benchmark": "real_model_figures", "machine": machine(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "model": {"name": "SmolLM2-135M-Instruct", "manifest": {k: v for k, v in check_folder(folder).items()
                                                                if k != "files"}},
        "data": {"fingerprint": fingerprint(loaded)["sha256"], "build_version": BUILD_VERSION},
        "subset": description, "subset_text": describe(description), "case_ids": sorted(chosen),
        "order": "both", "gen_tokens": args.gen_tokens, "hf_batch_size": args.batch_size, "rows": {}, "seconds": {},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / "real_model_figures.log"
    with open(log_path, "w", encoding="utf-8") as log, chatter_to(log.fileno()) as (out, bars):
        out.write(f"SmolLM2-135M-Instruct on {describe(description)}; log: {log_path}\n")

        def run(name: str, lm: Any, suffix: str, chunk: int, dedupe: bool = False, **kwargs: Any) -> dict[str, Any]:
            bar, start = BarProgress(bars, name), time.perf_counter()
            samples = {suite.task(s, suffix): indices[s] for s in suite.subsets}
            evaluated = evaluate(ProgressLM(lm, bar, chunk=chunk, dedupe=dedupe), suite, suffix, order="both",
                                 samples=samples, **kwargs)
            bar.close()
            result["seconds"][name] = round(time.perf_counter() - start, 1)
            check_cases(evaluated, suite, suffix, chosen, name)
            result["rows"][name] = {"row": row_metrics(evaluated, suite, suffix),
                                    "per_subset": task_metrics(evaluated, suite, suffix)}
            out.write(f"{name}: {result['rows'][name]['row']} ({result['seconds'][name]} s)\n")
            return evaluated

        for judge in JUDGES:
            run(f"baseline {judge}", get_model("toolprm-baseline").create_from_arg_obj({"judge": judge}), "", 64)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        hf = get_model("hf").create_from_arg_obj({"pretrained": str(folder), "dtype": "float32",
                                                  "batch_size": args.batch_size,
                                                  "device": device})
        if "generative" in args.protocols:
            evaluated = run("generative", hf, "", args.batch_size, True, chat=True, gen_kwargs={"max_gen_toks": args.gen_tokens})
            result["rows"]["generative"]["answers"] = {**answers_at_cap(evaluated, suite, hf.tokenizer,
                                                                        args.gen_tokens),
                                                       **answer_report(evaluated, suite)}
        if "pairwise_ll" in args.protocols:
            run("pairwise_ll", hf, "_pairwise_ll", max(2, args.batch_size), True)  # both labels of a trial share one forward pass
        if "pointwise" in args.protocols:
            run("pointwise", hf, "_pointwise", max(2, args.batch_size), True)  # the two orders ask the same requests: sent once
        del hf
        if "verifier" in args.protocols:
            bar, start = BarProgress(bars, "verifier"), time.perf_counter()
            spec = {"model": str(folder), "prefix": suite.prefix, "subsets": list(suite.subsets), "order": "both",
                    "samples": {suite.task(s, "_prm"): indices[s] for s in suite.subsets}}
            worker = run_verifier_row(spec, bar, log)
            bar.close()
            result["seconds"]["verifier"] = round(time.perf_counter() - start, 1)
            result["rows"]["verifier"] = {"row": worker["row"], "engine": worker["engine"]}
            out.write(f"verifier: {worker['row']} ({result['seconds']['verifier']} s)\n")
        result["seconds"]["total"] = round(time.perf_counter() - started, 1)
    write_result("real_model_figures", result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
