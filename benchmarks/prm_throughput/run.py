"""PRM scoring throughput: the same workload through the vLLM engine (in process with prefix
caching on and off, and through a vLLM server of ours) and the HF engine, same randomly
initialised model of a real size (Qwen2-0.5B config, sequence-classification head: the
compute is real, the scores meaningless).

Workload: every case of a data set, both candidates (default: the rebuilt ToolTalk set;
`--cases N` takes the first N, needed on CPU). Each engine runs in a process of its own (vLLM
spawns workers). Writes benchmarks/out/prm_throughput.json with cases/s and the ratios.

    python benchmarks/prm_throughput/run.py [--cases 445] [--model DIR] [--data official|rebuilt]
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

ROOT = Path(__file__).resolve().parents[2]
QWEN2_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                 rope_theta=1000000.0, tie_word_embeddings=True, num_labels=1)


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


def _worker(engine: str, model: str, requests_path: str, prefix_caching: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from toolprm_tasks.engines.base import ScoreRequest

    requests = [ScoreRequest(**r) for r in json.loads(Path(requests_path).read_text(encoding="utf-8"))]
    from toolprm_tasks.engines.factory import make_engine

    if engine == "hf":
        import torch

        gpu = torch.cuda.is_available()
        scorer = make_engine("hf", model, {"kind": "classifier", "device": "cuda" if gpu else "cpu",
                                           "dtype": "bfloat16" if gpu else "float32"})
    else:  # "vllm" in process, "vllm-server" through a server of ours (start-up not timed)
        scorer = make_engine("vllm", model, {"kind": "classifier", "enable_prefix_caching": prefix_caching,
                                             "server": engine == "vllm-server"})
    start = time.perf_counter()
    scorer.score(requests)
    elapsed = time.perf_counter() - start
    print("RESULT " + json.dumps({"seconds": elapsed, "engine": scorer.report()}))
    getattr(scorer, "close", lambda: None)()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=None)
    parser.add_argument("--model", help="an existing model folder (default: a random Qwen2-0.5B classifier)")
    parser.add_argument("--data", choices=("official", "rebuilt"), default="rebuilt")
    parser.add_argument("--subset", default="tooltalk")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine, model, path, caching = args.worker
        _worker(engine, model, path, caching == "1")
        return 0
    sys.path.insert(0, str(ROOT))
    from benchmarks._common import machine, write_result
    from toolprm_tasks.data import load_subsets
    from toolprm_tasks.engines.base import ScoreRequest

    (loaded,) = load_subsets([args.subset], data=args.data)
    cases = loaded.cases[: args.cases]
    requests = [dataclasses.asdict(ScoreRequest(c.history, c.functions, a)) for c in cases for a in (c.chosen, c.rejected)]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = [json.dumps(r, ensure_ascii=False) for r in requests]
        model = args.model or str(make_model(Path(tmp) / "model", corpus))
        path = Path(tmp) / "requests.json"
        path.write_text(json.dumps(requests), encoding="utf-8")
        runs = {}
        for name, engine, caching in (("vllm_prefix_cache", "vllm", "1"), ("vllm_no_prefix_cache", "vllm", "0"),
                                      ("vllm_server_prefix_cache", "vllm-server", "1"), ("hf", "hf", "1")):
            proc = subprocess.run([sys.executable, __file__, "--worker", engine, model, str(path), caching],
                                  capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            run = json.loads(lines[-1][len("RESULT "):])
            run["cases_per_s"] = len(cases) / run["seconds"]
            runs[name] = run
    import torch

    result = {
        "benchmark": "prm_throughput", "machine": machine(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "model": args.model or "random Qwen2-0.5B config, sequence classification (1 label)",
        "data": f"{args.data}/{args.subset}", "cases": len(cases), "candidates": len(requests), "runs": runs,
        "ratio_vllm_over_hf": runs["vllm_prefix_cache"]["cases_per_s"] / runs["hf"]["cases_per_s"],
        "ratio_prefix_cache_on_over_off": runs["vllm_prefix_cache"]["cases_per_s"] / runs["vllm_no_prefix_cache"]["cases_per_s"],
        "ratio_vllm_server_over_hf": runs["vllm_server_prefix_cache"]["cases_per_s"] / runs["hf"]["cases_per_s"],
        "goal_vllm_over_hf_on_gpu": 5.0,
    }
    write_result("prm_throughput", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
