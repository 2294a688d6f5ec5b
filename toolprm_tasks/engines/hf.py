"""The HF transformers scoring engine: small models, and the reference for correctness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolprm_tasks.engines.base import EngineError, PromptFormat, ScoringEngine, check_kind, single_token_id
from toolprm_tasks.engines.weights import all_weights_loaded

__all__ = ["HFEngine", "EngineError", "single_token_id"]  # the last two: their old home


def model_context(config: Any, tokenizer: Any) -> tuple[int | None, str]:
    """The model's context in tokens and where it was read: the config's
    max_position_embeddings, else the tokenizer's model_max_length (transformers' huge
    placeholder for "not set" is no context); None when neither says."""
    config = getattr(config, "text_config", None) or config
    if own := getattr(config, "max_position_embeddings", None):
        return int(own), "max_position_embeddings in its config"
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**18:
        return limit, "model_max_length of its tokenizer"
    return None, ""


class HFEngine(ScoringEngine):
    def __init__(self, model: str, kind: str, max_length: int | None = None, fmt: PromptFormat | None = None,
                 device: str = "cpu", dtype: str = "float32", trust_remote_code: bool = False) -> None:
        check_kind(kind)
        try:
            import torch
            from transformers import (
                AutoModelForCausalLM,
                AutoModelForSequenceClassification,
                AutoModelForTokenClassification,
                AutoTokenizer,
            )
        except ImportError as exc:
            raise EngineError(f"{model}: the HF engine needs torch and transformers ({exc})") from exc
        loaders = {"classifier": AutoModelForSequenceClassification, "step": AutoModelForTokenClassification,
                   "label-token": AutoModelForCausalLM, "verifier": AutoModelForCausalLM, "pairwise": AutoModelForCausalLM}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            loaded = loaders[kind].from_pretrained(model, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code,
                                                   output_loading_info=True)
        except Exception as exc:  # noqa: BLE001 - any load failure is reported with the model's name
            raise EngineError(f"{model}: could not be loaded as a {kind} model ({type(exc).__name__}: {exc})") from exc
        # a head missing from the checkpoint is newly initialised: random scores, refused
        checked = all_weights_loaded(model, kind, loaded)
        try:
            self.model = checked.to(device).eval()
        except Exception as exc:  # noqa: BLE001 - torch's error for an unknown or absent device, named
            raise EngineError(f"{model}: option device={device!r} cannot be used ({type(exc).__name__}: {exc}); "
                              "use cpu, cuda or cuda:N") from exc
        self.torch, self.device = torch, device
        context, source = model_context(self.model.config, self.tokenizer)
        if max_length and context and max_length > context:
            # positions past the model's context are never trained (or do not exist): refused, as vLLM does
            raise EngineError(f"{model}: max_length={max_length} is more than the model's context of {context} "
                              f"tokens ({source}); lower max_length or leave it out")
        self.max_model_len = int(max_length or context or 2048)
        super().__init__(model, kind, self.max_model_len, fmt)

    def _score_one(self, prompt: str) -> float:
        torch = self.torch
        ids = torch.tensor([self.encode_prompt(prompt)], device=self.device)
        self.stats.prompt_tokens += int(ids.shape[1])
        with torch.no_grad():
            logits = self.model(input_ids=ids).logits.float()
        if self.kind == "classifier":
            row = logits[0]
            if row.shape[-1] == 1:
                return float(torch.sigmoid(row[0]))  # as vLLM's classify reports a one-label head
            if row.shape[-1] == 2:
                return float(torch.softmax(row, -1)[1])
            raise EngineError(f"{self.model_path}: a classifier reward model needs 1 or 2 labels, not {row.shape[-1]}")
        if self.kind == "step":  # the appended tag's own token (`encode_prompt`), before the end of turn
            position = ids.shape[1] - len(self._step_tail_ids) - 1
            return float(torch.softmax(logits[0, position], -1)[1])
        pair = logits[0, -1, list(self.label_ids)]
        return float(torch.softmax(pair, -1)[0])

    def _score_prompts(self, prompts: Sequence[str]) -> list[float]:
        return [self._score_one(p) for p in prompts]

    def _generate(self, token_ids: list[list[int]], max_tokens: list[int]) -> tuple[list[str], int]:
        # one prompt at a time: no padding, so each answer is exactly the model's greedy answer
        texts = []
        for ids, limit in zip(token_ids, max_tokens, strict=True):
            prompt = self.torch.tensor([ids], device=self.device)
            with self.torch.no_grad():
                out = self.model.generate(prompt, attention_mask=self.torch.ones_like(prompt), max_new_tokens=limit,
                                          do_sample=False, pad_token_id=self.tokenizer.pad_token_id)
            texts.append(self.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True))
        return texts, 0
