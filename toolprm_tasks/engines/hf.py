"""The HF transformers scoring engine: small models, and the reference for correctness."""

from __future__ import annotations

from collections.abc import Sequence

from toolprm_tasks.engines.base import SCORING_KINDS, EngineError, PromptFormat, ScoringEngine, single_token_id

__all__ = ["HFEngine", "EngineError", "single_token_id"]  # the last two: their old home


class HFEngine(ScoringEngine):
    def __init__(self, model: str, kind: str, max_length: int | None = None, fmt: PromptFormat | None = None,
                 device: str = "cpu", dtype: str = "float32", trust_remote_code: bool = False) -> None:
        if kind not in SCORING_KINDS:
            raise ValueError(f"unknown kind {kind!r} for the HF engine; expected one of {', '.join(SCORING_KINDS)} "
                             "(pairwise judging with HF: lm-eval's `hf` or Inspect's `hf/` on the generative tasks)")
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
                   "label-token": AutoModelForCausalLM, "verifier": AutoModelForCausalLM}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = loaders[kind].from_pretrained(model, dtype=getattr(torch, dtype),
                                                       trust_remote_code=trust_remote_code).to(device).eval()
        except Exception as exc:  # noqa: BLE001 - any load failure is reported with the model's name
            raise EngineError(f"{model}: could not be loaded as a {kind} model ({type(exc).__name__}: {exc})") from exc
        self.torch, self.device = torch, device
        limit = max_length or getattr(self.model.config, "max_position_embeddings", None) or 2048
        super().__init__(model, kind, int(limit), fmt)
        if kind in ("verifier", "label-token"):
            self.label_ids = self.label_token_ids()
        elif kind == "step":
            self.step_id = single_token_id(self.tokenizer, self.fmt.step_tag, model)

    def _score_one(self, prompt: str) -> float:
        torch = self.torch
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(self.device)
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
        if self.kind == "step":
            positions = (ids[0] == self.step_id).nonzero()
            if len(positions) == 0:
                raise EngineError(f"{self.model_path}: the step tag {self.fmt.step_tag!r} was lost in tokenisation")
            return float(torch.softmax(logits[0, int(positions[-1])], -1)[1])
        pair = logits[0, -1, list(self.label_ids)]
        return float(torch.softmax(pair, -1)[0])

    def _score_prompts(self, prompts: Sequence[str]) -> list[float]:
        return [self._score_one(p) for p in prompts]
