"""PRM scoring throughput: the same workload through the vLLM engine (in process with prefix
caching on and off, and through a vLLM server of ours) and the HF engine, and the physical
limit they are measured against.

Models: by default a randomly initialised model of a real size (Qwen2-0.5B config,
sequence-classification head: the compute is real, the scores meaningless); `--real-model`:
SmolLM2-135M-Instruct (`toolprmbench model smollm2`) as a `verifier`, real weights, tokenizer
and chat template; `--model DIR --kind KIND`: any folder.

Workload: every case of a data set, both candidates (default: the rebuilt ToolTalk set;
`--cases N` takes the first N, needed on CPU). Each engine runs in a process of its own (vLLM
spawns workers); engine start-up and one short warm-up request are not timed.

Physical limit, measured in the same run: the workload's prompts, as the engine tokenises
them, hold `unique_prompt_tokens` distinct tokens once shared prefixes are counted once (the
nodes of their prefix tree: both candidates of a case share the history, cases of one
conversation share the tools). The vLLM process without prefix caching also times the bare
runtime call (`LLM.classify` / `LLM.generate` of one token with the label logprobs, no
rendering, no tokenising, nothing of ours) on the distinct prompts: its prefill rate in
tokens per second on this machine. limit = unique tokens / that rate: the time to prefill
each unique token once. Every run's `over_limit` is its time divided by the limit (goal for
the prefix-cached vLLM engine: at most 1.3).

Writes benchmarks/out/prm_throughput.json (or `--out`).

    python benchmarks/prm_throughput/run.py [--cases 445] [--real-model | --model DIR --kind KIND] [--data official|rebuilt]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QWEN2_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                 rope_theta=1000000.0, tie_word_embeddings=True, num_labels=1)
GOAL_OVER_LIMIT = 1.3


def make_model(directory: Path, corpus: list[str]) -> Path:
    """A Qwen2-0.5B-shaped sequence classifier with random weights and a tokenizer trained on
    the workload's own text (so prompts get a realistic number of tokens)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    sys.path.insert(0, str(ROOT))
    from tests.tiny_model import build_tokenizer

    fast = build_tokenizer(directory, corpus, vocab_size=8000)
    config = Qwen2Config(**QWEN2_05B, pad_token_id=fast.pad_token_id,
                         architectures=["Qwen2ForSequenceClassification"])
    torch.manual_seed(0)
    Qwen2ForSequenceClassification(config).to(torch.bfloat16).save_pretrained(directory)
    return directory


def unique_tokens(sequences: list[list[int]]) -> int:
    """Tokens of the sequences with shared prefixes counted once: the nodes of their prefix
    tree (sorted, each sequence adds what it does not share with its predecessor)."""
    total, previous = 0, ()
    for sequence in sorted(tuple(s) for s in sequences):
        shared = 0
        for a, b in zip(previous, sequence, strict=False):  # sequences of different lengths
            if a != b:
                break
            shared += 1
        total += len(sequence) - shared
        previous = sequence
    return total


def _raw_prefill(scorer: Any, prompts: list[list[int]]) -> dict[str, Any]:
    """The bare runtime call on the distinct prompts (no prefix cache in this process): the
    machine's prefill rate for this model. `_run` is the engine's call into vLLM itself."""
    distinct = [list(p) for p in dict.fromkeys(tuple(p) for p in prompts)]
    start = time.perf_counter()
    scorer._run(distinct)  # noqa: SLF001 - the runtime call without our rendering and tokenising
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tokens": sum(len(p) for p in distinct), "prompts": len(distinct),
            "unique_prompt_tokens": unique_tokens(prompts)}


def _worker(engine: str, model: str, requests_path: str, prefix_caching: bool, kind: str) -> None:
    sys.path.insert(0, str(ROOT))
    from toolprm_tasks.engines.base import ScoreRequest

    requests = [ScoreRequest(**r) for r in json.loads(Path(requests_path).read_text(encoding="utf-8"))]
    from toolprm_tasks.engines.factory import make_engine

    if engine == "hf":
        import torch

        gpu = torch.cuda.is_available()
        scorer = make_engine("hf", model, {"kind": kind, "device": "cuda" if gpu else "cpu",
                                           "dtype": "bfloat16" if gpu else "float32"})
    else:  # "vllm" in process, "vllm-server" through a server of ours (start-up not timed)
        scorer = make_engine("vllm", model, {"kind": kind, "enable_prefix_caching": prefix_caching,
                                             "server": engine == "vllm-server"})
    # one short request first, not timed (allocation, compilation of new shapes), then a clean
    # slate: an empty prefix cache and zero counters
    scorer.score([ScoreRequest([{"role": "user", "content": "Warm-up."}], [], "warm-up")])
    if hasattr(scorer, "llm"):
        scorer.llm.reset_prefix_cache()
    scorer.stats = type(scorer.stats)()
    if hasattr(scorer, "shared_prefix_tokens"):
        scorer.shared_prefix_tokens = scorer.shared_prefix_cached = 0
    limit = None
    if engine == "vllm" and not prefix_caching:
        # the prompts exactly as the engine builds them (a throwaway copy of its counters)
        stats = dataclasses.replace(scorer.stats)
        prompts = [scorer.tokenizer.encode(scorer.prompt_for(r)[0], add_special_tokens=False) for r in requests]
        scorer.stats = stats
        limit = _raw_prefill(scorer, prompts)
    start = time.perf_counter()
    scorer.score(requests)
    elapsed = time.perf_counter() - start
    print("RESULT " + json.dumps({"seconds": elapsed, "engine": scorer.report(), "limit": limit}))
    getattr(scorer, "close", lambda: None)()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=None)
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--model", help="an existing model folder (default: a random Qwen2-0.5B classifier)")
    models.add_argument("--real-model", action="store_true", help="SmolLM2-135M-Instruct as a verifier")
    parser.add_argument("--kind", default=None, help="the engine kind (default: classifier; verifier with --real-model)")
    parser.add_argument("--data", choices=("official", "rebuilt"), default="rebuilt")
    parser.add_argument("--subset", default="tooltalk")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine, model, path, caching, kind = args.worker
        _worker(engine, model, path, caching == "1", kind)
        return 0
    sys.path.insert(0, str(ROOT))
    from benchmarks._common import machine, write_result
    from toolprm_tasks.data import load_subsets
    from toolprm_tasks.engines.base import ScoreRequest

    kind = args.kind or ("verifier" if args.real_model else "classifier")
    (loaded,) = load_subsets([args.subset], data=args.data)
    cases = loaded.cases[: args.cases]
    requests = [dataclasses.asdict(ScoreRequest(c.history, c.functions, a)) for c in cases for a in (c.chosen, c.rejected)]
    with tempfile.TemporaryDirectory() as tmp:
        if args.real_model:
            from toolprm_tasks.real_model import ensure_model

            model, model_name = str(ensure_model()), "SmolLM2-135M-Instruct (Q4_1 de-quantised to float32)"
        elif args.model:
            model, model_name = args.model, args.model
        else:
            corpus = [json.dumps(r, ensure_ascii=False) for r in requests]
            model = str(make_model(Path(tmp) / "model", corpus))
            model_name = "random Qwen2-0.5B config, sequence classification (1 label)"
        path = Path(tmp) / "requests.json"
        path.write_text(json.dumps(requests), encoding="utf-8")
        runs = {}
        for name, engine, caching in (("vllm_prefix_cache", "vllm", "1"), ("vllm_no_prefix_cache", "vllm", "0"),
                                      ("vllm_server_prefix_cache", "vllm-server", "1"), ("hf", "hf", "1")):
            proc = subprocess.run([sys.executable, __file__, "--worker", engine, model, str(path), caching, kind],
                                  capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            run = json.loads(lines[-1][len("RESULT "):])
            run["cases_per_s"] = len(cases) / run["seconds"]
            runs[name] = run
    import torch

    raw = runs["vllm_no_prefix_cache"].pop("limit")
    rate = raw["tokens"] / raw["seconds"]
    limit_seconds = raw["unique_prompt_tokens"] / rate
    for run in runs.values():
        run.pop("limit", None)
        run["over_limit"] = run["seconds"] / limit_seconds
    result = {
        "benchmark": "prm_throughput", "machine": machine(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "model": model_name, "kind": kind,
        "data": f"{args.data}/{args.subset}", "cases": len(cases), "candidates": len(requests), "runs": runs,
        "physical_limit": {"unique_prompt_tokens": raw["unique_prompt_tokens"], "prompt_tokens": raw["tokens"],
                           "distinct_prompts": raw["prompts"], "prefill_tokens_per_s": rate,
                           "raw_prefill_seconds": raw["seconds"], "seconds": limit_seconds,
                           "cases_per_s": len(cases) / limit_seconds},
        "ratio_vllm_over_hf": runs["vllm_prefix_cache"]["cases_per_s"] / runs["hf"]["cases_per_s"],
        "ratio_prefix_cache_on_over_off": runs["vllm_prefix_cache"]["cases_per_s"] / runs["vllm_no_prefix_cache"]["cases_per_s"],
        "ratio_vllm_server_over_hf": runs["vllm_server_prefix_cache"]["cases_per_s"] / runs["hf"]["cases_per_s"],
        "goal_vllm_over_hf_on_gpu": 5.0, "goal_vllm_over_limit": GOAL_OVER_LIMIT,
    }
    write_result("prm_throughput" + ("_real_model" if args.real_model else ""), result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
