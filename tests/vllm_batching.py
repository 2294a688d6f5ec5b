"""The vLLM engine in a process of its own (vLLM spawns workers) scoring the same requests
alone (one engine call each), as one batch, and as one batch in reverse order; prints
`RESULT {"alone": [...], "batch": [...], "reversed": [...]}` (each in request order):

    python tests/vllm_batching.py MODEL KIND REQUESTS.json

The prefix cache is emptied before each pass, so that each pass computes what a fresh run
would (a warm cache would serve one pass the previous pass's prefixes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.vllm_engine import VLLMEngine

    model, kind, path = sys.argv[1:4]
    requests = [ScoreRequest(**r) for r in json.loads(Path(path).read_text(encoding="utf-8"))]
    engine = VLLMEngine(model, kind)
    passes = {}
    engine.llm.reset_prefix_cache()
    passes["alone"] = [engine.score([request])[0] for request in requests]
    engine.llm.reset_prefix_cache()
    passes["batch"] = engine.score(requests)
    engine.llm.reset_prefix_cache()
    passes["reversed"] = engine.score(requests[::-1])[::-1]
    print("RESULT " + json.dumps(passes))
