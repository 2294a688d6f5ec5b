"""Inspect model providers `toolprm-hf/DIR` and `toolprm-vllm/DIR`: a local PRM scored by a
scoring engine.

    inspect eval toolprm_tasks/bfcl.py -T protocol=pointwise --model toolprm-hf//abs/path -M kind=classifier
    inspect eval toolprm_tasks/bfcl.py -T protocol=pointwise --model toolprm-vllm//abs/path -M kind=step

Serves the pointwise protocol: the score goes into `ModelOutput.metadata["toolprm_score"]`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from toolprm_tasks.engines.base import PromptFormat, ScoreRequest
from toolprm_tasks.inspect_tasks import POSITION_KEY, SCORE_KEY, VIEW_KEY
from toolprm_tasks.trials import JudgeView


class PRMScoringAPI(ModelAPI):
    """A local PRM behind a scoring engine; subclasses choose the engine."""

    provider = ""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(),  # noqa: B008 (ModelAPI's own signature)
                 kind: str = "classifier", max_length: int | None = None, step_tag: str | None = None,
                 **options: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        fmt = PromptFormat(step_tag=step_tag) if step_tag else None
        self.engine = self.make_engine(model_name, kind, int(max_length) if max_length else None, fmt, options)
        self.lock = asyncio.Lock()  # one engine call at a time on the local model

    def make_engine(self, model: str, kind: str, max_length: int | None, fmt: PromptFormat | None,
                    options: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        if getattr(self.engine, "kind", None) == "pairwise":
            async with self.lock:
                (text,) = await asyncio.to_thread(self.engine.generate, [input[-1].text], config.max_tokens or 1024)
            output = ModelOutput.from_content(model=self.model_name, content=text)
            output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
            return output
        message = next((m for m in reversed(input) if m.metadata and POSITION_KEY in m.metadata), None)
        if message is None:
            raise ValueError(f"{self.provider}/{self.model_name} scores candidates of ToolPRMBench's pointwise "
                             "protocol only (-T protocol=pointwise)")
        view = JudgeView.from_json(message.metadata[VIEW_KEY])
        request = ScoreRequest(view.history, view.functions, view.candidates[int(message.metadata[POSITION_KEY]) - 1])
        async with self.lock:
            score = await asyncio.to_thread(self.engine.score, [request])
        output = ModelOutput.from_content(model=self.model_name, content="")
        output.metadata = {SCORE_KEY: score[0], "engine": self.engine.stats.as_dict()}
        output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
        return output


class HFPRMAPI(PRMScoringAPI):
    provider = "toolprm-hf"

    def make_engine(self, model, kind, max_length, fmt, options):  # type: ignore[no-untyped-def]
        from toolprm_tasks.engines.hf import HFEngine

        return HFEngine(model, kind, max_length, fmt, device=options.get("device", "cpu"),
                        dtype=options.get("dtype", "float32"))


class VLLMPRMAPI(PRMScoringAPI):
    provider = "toolprm-vllm"

    def make_engine(self, model, kind, max_length, fmt, options):  # type: ignore[no-untyped-def]
        from toolprm_tasks.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model, kind, max_length, fmt, tensor_parallel_size=int(options.get("tensor_parallel_size", 1)),
                          dtype=options.get("dtype"), load_format=options.get("load_format", "auto"))
