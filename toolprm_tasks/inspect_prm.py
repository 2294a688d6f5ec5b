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

from toolprm_tasks.engines.base import ScoreRequest
from toolprm_tasks.engines.factory import make_engine
from toolprm_tasks.inspect_tasks import POSITION_KEY, SCORE_KEY, TRUNCATED_KEY, VIEW_KEY
from toolprm_tasks.trials import JudgeView


class PRMScoringAPI(ModelAPI):
    """A local PRM behind a scoring engine; subclasses name the backend."""

    backend = ""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(),  # noqa: B008 (ModelAPI's own signature)
                 **options: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if base_url:  # --model-base-url: a vLLM server of yours
            options = {**options, "base_url": base_url}
        self.engine = make_engine(self.backend, model_name, options)
        self.lock = asyncio.Lock()  # one engine call at a time on the local model

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
            raise ValueError(f"toolprm-{self.backend}/{self.model_name} scores candidates of ToolPRMBench's pointwise "
                             "protocol only (-T protocol=pointwise)")
        view = JudgeView.from_json(message.metadata[VIEW_KEY])
        request = ScoreRequest(view.history, view.functions, view.candidates[int(message.metadata[POSITION_KEY]) - 1])
        async with self.lock:
            (scored,) = await asyncio.to_thread(self.engine.score_detailed, [request])
        output = ModelOutput.from_content(model=self.model_name, content="")
        output.metadata = {SCORE_KEY: scored.score, TRUNCATED_KEY: scored.truncated, "engine": self.engine.stats.as_dict()}
        output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
        return output


class HFPRMAPI(PRMScoringAPI):
    backend = "hf"


class VLLMPRMAPI(PRMScoringAPI):
    backend = "vllm"
