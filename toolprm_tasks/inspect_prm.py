"""Inspect model provider `toolprm-hf/DIR`: a local PRM scored by the HF engine.

    inspect eval toolprm_tasks/bfcl.py -T protocol=pointwise --model toolprm-hf//abs/path -M kind=classifier

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


class HFPRMAPI(ModelAPI):
    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(),  # noqa: B008 (ModelAPI's own signature)
                 kind: str = "classifier", max_length: int | None = None, dtype: str = "float32",
                 device: str = "cpu", step_tag: str | None = None, **_: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        from toolprm_tasks.engines.hf import HFEngine

        fmt = PromptFormat(step_tag=step_tag) if step_tag else None
        self.engine = HFEngine(model_name, kind, max_length, fmt, device=device, dtype=dtype)
        self.lock = asyncio.Lock()  # one forward pass at a time on the local model

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        message = next((m for m in reversed(input) if m.metadata and POSITION_KEY in m.metadata), None)
        if message is None:
            raise ValueError(f"toolprm-hf/{self.model_name} scores candidates of ToolPRMBench's pointwise "
                             "protocol only (-T protocol=pointwise)")
        view = JudgeView.from_json(message.metadata[VIEW_KEY])
        request = ScoreRequest(view.history, view.functions, view.candidates[int(message.metadata[POSITION_KEY]) - 1])
        async with self.lock:
            score = await asyncio.to_thread(self.engine.score, [request])
        output = ModelOutput.from_content(model=self.model_name, content="")
        output.metadata = {SCORE_KEY: score[0], "engine": self.engine.stats.as_dict()}
        output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
        return output
