"""Inspect model provider `toolprm-baseline/NAME`: the weight-free baseline judges.

    inspect eval toolprm_tasks/bfcl.py --model toolprm-baseline/schema [-M seed=1]

It reads the judge view that the ToolPRMBench tasks attach to the prompt message's metadata
(never the label) and answers as the protocol needs: the paper's JSON answer (generative),
label log-probabilities (pairwise_ll, when logprobs are requested), or a score in
`ModelOutput.metadata` (pointwise). Usage is zero on every output (`prm_provider.token_usage`):
nothing is tokenised, and Inspect does not count tokens itself where usage is set.
"""

from __future__ import annotations

import math
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from toolprm_tasks.brief_errors import inspect_brief
from toolprm_tasks.core.baselines import JUDGES, candidate_scores, check_judge, generative_answer, generative_pick
from toolprm_tasks.core.trials import JudgeView
from toolprm_tasks.engines.factory import OptionError, check_options, whole
from toolprm_tasks.inspect_adapter.keys import LABELS_KEY, POSITION_KEY, SCORE_KEY, TRUNCATED_KEY, VIEW_KEY
from toolprm_tasks.inspect_adapter.prm_provider import token_usage


def _log_softmax(scores: tuple[float, float]) -> tuple[float, float]:
    top = max(scores)
    total = top + math.log(sum(math.exp(s - top) for s in scores))
    return scores[0] - total, scores[1] - total


class BaselineJudgeAPI(ModelAPI):
    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(),  # noqa: B008 (ModelAPI's own signature)
                 **model_args: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        with inspect_brief(ValueError):  # a refused judge or option: its message alone on Inspect's command line
            if model_name not in JUDGES:
                raise OptionError(f"toolprm-baseline/NAME: NAME is the judge, one of {', '.join(JUDGES)}; "
                                  f"got {model_name!r}")
            self.judge = check_judge(model_name)
            self.seed = check_options(f"toolprm-baseline/{model_name}", model_args, {"seed": whole()}).get("seed", 0)

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        message = next((m for m in reversed(input) if m.metadata and VIEW_KEY in m.metadata), None)
        if message is None:
            raise ValueError("toolprm-baseline judges only ToolPRMBench samples (toolprm_tasks tasks): "
                             "the prompt carries no judge view")
        meta = message.metadata or {}
        view = JudgeView.from_json(meta[VIEW_KEY])
        labels = tuple(meta.get(LABELS_KEY) or ("Action1", "Action2"))
        usage = token_usage(0, 0)  # nothing is tokenised (a word count is no token count)
        model = f"toolprm-baseline/{self.judge}"
        if POSITION_KEY in meta:  # pointwise: the score of one candidate
            score = candidate_scores(self.judge, view, self.seed)[int(meta[POSITION_KEY]) - 1]
            output = ModelOutput.from_content(model=model, content="")
            output.metadata = {SCORE_KEY: score, TRUNCATED_KEY: False}  # no context limit: never shortened
        elif config.logprobs:  # pairwise likelihood: the two labels' log-probabilities
            output = self._label_logprobs(model, view, labels)
        else:
            pick = generative_pick(self.judge, view, self.seed)
            output = ModelOutput.from_content(model=model, content=generative_answer(pick, labels, self.judge))
        output.usage = usage
        return output

    def _label_logprobs(self, model: str, view: JudgeView, labels: tuple[str, ...]) -> ModelOutput:
        lp1, lp2 = _log_softmax(candidate_scores(self.judge, view, self.seed))
        stem, digit_1, digit_2 = labels[0][:-1], labels[0][-1], labels[1][-1]
        best_digit, best_lp = (digit_1, lp1) if lp1 >= lp2 else (digit_2, lp2)
        content = [
            Logprob(token=stem, logprob=0.0, top_logprobs=[TopLogprob(token=stem, logprob=0.0)]),
            Logprob(token=best_digit, logprob=best_lp,
                    top_logprobs=[TopLogprob(token=digit_1, logprob=lp1), TopLogprob(token=digit_2, logprob=lp2)]),
        ]
        choice = ChatCompletionChoice(message=ChatMessageAssistant(content=stem + best_digit, model=model),
                                      stop_reason="stop", logprobs=Logprobs(content=content))
        return ModelOutput(model=model, choices=[choice])
