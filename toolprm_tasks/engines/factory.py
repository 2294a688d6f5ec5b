"""One engine factory for both adapters: lm-eval `--model_args` and Inspect `-M` options.

    kind=classifier|step|label-token|verifier|pairwise   max_length=N
    step_tag=... good_token=... bad_token=... yes_token=... no_token=...   (PromptFormat)
    hf:   device=cuda|cpu (default: the GPU if there is one)  dtype=float32|bfloat16  trust_remote_code=true
    vllm: tensor_parallel_size=N  dtype=...  gpu_memory_utilization=F  load_format=...
          enable_prefix_caching=false  enforce_eager=true (no torch.compile: starts in seconds, scores
          slower; default $TOOLPRMBENCH_VLLM_ENFORCE_EAGER)  server=true (start our own server)  base_url=URL (yours)
          api_key=KEY (your server's key; default: $VLLM_API_KEY)
          served_model_name=NAME (the name your server knows the model by)

Unknown options are refused with the list of known ones, so a typo never runs silently with
defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from toolprm_tasks.engines.base import PromptFormat, ScoringEngine

logger = logging.getLogger(__name__)

_FORMAT_KEYS = tuple(f.name for f in fields(PromptFormat))
_COMMON = ("kind", "max_length", *_FORMAT_KEYS)
KNOWN_OPTIONS = {
    "hf": (*_COMMON, "device", "dtype", "trust_remote_code"),
    "vllm": (*_COMMON, "tensor_parallel_size", "dtype", "gpu_memory_utilization", "load_format",
             "enable_prefix_caching", "enforce_eager", "server", "base_url", "api_key", "served_model_name"),
}
# passed by the frameworks themselves whatever the model (lm-eval: batch size, device)
_FRAMEWORK_OPTIONS = ("batch_size", "max_batch_size", "device")


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _hf_device(requested: Any) -> str:
    """lm-eval passes `cuda:0` when no `--device` is given; as its own `hf` model does, use the
    GPU when there is one and the CPU otherwise."""
    import torch

    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(requested)
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("toolprm-hf: %s requested but CUDA is not available; using the CPU", device)
        return "cpu"
    return device


def make_engine(backend: str, model: str, options: Mapping[str, Any]) -> ScoringEngine:
    """The `backend` ("hf" or "vllm") engine for `model` as the options describe."""
    known = KNOWN_OPTIONS[backend]
    unknown = sorted(k for k in options if k not in known and k not in _FRAMEWORK_OPTIONS)
    if unknown:
        raise ValueError(f"toolprm-{backend}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    kind = str(options.get("kind", "classifier"))
    max_length = int(options["max_length"]) if options.get("max_length") else None
    fmt = PromptFormat(**{k: str(options[k]) for k in _FORMAT_KEYS if options.get(k) is not None})
    dtype = options.get("dtype")
    if backend == "hf":
        from toolprm_tasks.engines.hf import HFEngine

        return HFEngine(model, kind, max_length, fmt, device=_hf_device(options.get("device")),
                        dtype=str(dtype or "float32"), trust_remote_code=_flag(options.get("trust_remote_code", False)))
    engine_options = {
        "tensor_parallel_size": int(options.get("tensor_parallel_size", 1)),
        "dtype": str(dtype) if dtype else None,
        "gpu_memory_utilization": float(options["gpu_memory_utilization"]) if options.get("gpu_memory_utilization")
        else None,
        "load_format": str(options.get("load_format", "auto")),
        "enable_prefix_caching": _flag(options.get("enable_prefix_caching", True)),
        "enforce_eager": _flag(options["enforce_eager"]) if "enforce_eager" in options else None,
    }
    base_url = options.get("base_url")
    if base_url or _flag(options.get("server", False)):
        from toolprm_tasks.engines.vllm_server import VLLMServerEngine

        return VLLMServerEngine(model, kind, base_url=str(base_url) if base_url else None,
                                api_key=str(options["api_key"]) if options.get("api_key") else None, max_length=max_length,
                                fmt=fmt, served_model_name=options.get("served_model_name"), **engine_options)
    from toolprm_tasks.engines.vllm_engine import VLLMEngine

    return VLLMEngine(model, kind, max_length, fmt, **engine_options)
