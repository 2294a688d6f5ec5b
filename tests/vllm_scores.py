"""Run the vLLM engine in a process of its own (vLLM spawns workers) and print JSON:
`python tests/vllm_scores.py MODEL KIND REQUESTS.json [LOAD_FORMAT]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.vllm_engine import VLLMEngine

    model, kind, path = sys.argv[1:4]
    load_format = sys.argv[4] if len(sys.argv) > 4 else "auto"
    if kind == "pairwise":  # REQUESTS.json holds judge prompts
        engine = VLLMEngine(model, kind, load_format=load_format)
        prompts = json.loads(Path(path).read_text(encoding="utf-8"))
        texts = engine.generate(prompts, max_tokens=4)
        first = engine.stats.as_dict()
        again = engine.generate(prompts, max_tokens=4)  # every prompt now in the prefix cache
        lengths = [len(engine.tokenizer.encode(engine.render([{"role": "user", "content": p}]),
                                               add_special_tokens=False)) for p in prompts]
        print("RESULT " + json.dumps({"texts": texts, "texts_again": again, "stats": first,
                                      "stats_after_again": engine.stats.as_dict(), "prompt_lengths": lengths,
                                      "block_size": engine.llm.llm_engine.vllm_config.cache_config.block_size}))
        sys.exit(0)
    requests = [ScoreRequest(**r) for r in json.loads(Path(path).read_text(encoding="utf-8"))]
    engine = VLLMEngine(model, kind, load_format=load_format)
    scores = engine.score(requests)
    print("RESULT " + json.dumps({"scores": scores, "stats": engine.stats.as_dict(),
                                  "shared_prefix_tokens": engine.shared_prefix_tokens, "cache_share": engine.cache_share()}))
