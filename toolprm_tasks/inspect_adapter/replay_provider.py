"""Inspect model provider `toolprm-replay/K`: a deterministic policy for offline search runs.

    inspect eval toolprm_tasks/search.py --model toolprm-replay/4 -T n=4 -T selector=first
    inspect eval toolprm_tasks/search.py --model toolprm-replay/8 -M seed=1 -M order=gold_first

At every step of `toolprm_search` it proposes the gold step plus K-1 wrong actions made by the
rebuild's error operators, in a seeded order (`-M order=seeded|gold_first|gold_last`, `-M
seed=N`), answered in the policy prompt's action format; with `num_choices=N` it returns N
choices (sample i is proposal i mod K). The gold step comes from message metadata that only our
providers read (`inspect_adapter.keys.STEP_KEY`), never from the prompt text. Usage is set on
every output so nothing is tokenised.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from toolprm_tasks.agent_search.replay import StepInfo, replay_answers
from toolprm_tasks.brief_errors import inspect_brief
from toolprm_tasks.core.names import REPLAY_ORDERS
from toolprm_tasks.engines.factory import OptionError, check_options, choice, whole
from toolprm_tasks.inspect_adapter.keys import STEP_KEY
from toolprm_tasks.inspect_adapter.prm_provider import token_usage


class ReplayPolicyAPI(ModelAPI):
    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(),  # noqa: B008 (ModelAPI's own signature)
                 **model_args: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        with inspect_brief(ValueError):  # a refused K or option: its message alone on Inspect's command line
            try:
                self.k = whole(1)(model_name)
            except ValueError as exc:
                raise OptionError(f"toolprm-replay/K: K must be {exc}, got {model_name!r}") from None
            checked = check_options(f"toolprm-replay/{model_name}", model_args,
                                    {"seed": whole(), "order": choice(*REPLAY_ORDERS)})
        self.seed = checked.get("seed", 0)
        self.order = checked.get("order", "seeded")

    def max_connections(self) -> int:
        return 64  # no I/O: concurrency only interleaves samples

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        message = next((m for m in reversed(input) if m.metadata and STEP_KEY in m.metadata), None)
        if message is None:
            raise ValueError("toolprm-replay proposes actions for toolprm_search only: the prompt carries no "
                             "search step")
        step = StepInfo.from_json(message.metadata[STEP_KEY])
        texts = replay_answers(step, self.k, max(1, config.num_choices or 1), self.seed, self.order)
        model = f"toolprm-replay/{self.k}"
        choices = [ChatCompletionChoice(message=ChatMessageAssistant(content=text, model=model), stop_reason="stop")
                   for text in texts]
        output = ModelOutput(model=model, choices=choices)
        output.usage = token_usage(0, 0)  # nothing is tokenised
        return output
