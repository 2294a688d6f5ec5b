"""Inspect glue for the search: the evaluated model as the policy, the `judge` model role as
a pointwise or pairwise judge. Everything else is framework-free (`loop`, `selector`, `check`).

Pointwise judges are our scoring providers (`toolprm-hf/`, `toolprm-vllm/` with a scoring
kind, `toolprm-baseline/NAME`); they read the same message metadata as in the pointwise
protocol of the benchmark tasks (`inspect_adapter.keys.VIEW_KEY`, `POSITION_KEY`; score in
`ModelOutput.metadata[SCORE_KEY]`). All candidates of a step are requested together, so a
provider's Batcher makes them one engine call. Any other model (and `kind=pairwise`) judges
with the paper's pairwise prompt, its answer parsed by `scorers.core.parse_pairwise_answer`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from inspect_ai.model import ChatMessageUser, GenerateConfig, Model, ModelOutput

from scorers.core import parse_pairwise_answer, usable_score
from toolprm_tasks.agent_search.actions import Action
from toolprm_tasks.agent_search.loop import PolicyRequest, Samples
from toolprm_tasks.agent_search.selector import Answer, Scored, StepContext
from toolprm_tasks.core.names import JUDGE_PROTOCOLS  # the protocols are named in names.py
from toolprm_tasks.core.prompts import pairwise_prompt
from toolprm_tasks.core.render import render_functions, render_history
from toolprm_tasks.core.trials import JudgeView, pointwise_context
from toolprm_tasks.inspect_adapter.baseline_provider import BaselineJudgeAPI
from toolprm_tasks.inspect_adapter.keys import LABELS_KEY, POSITION_KEY, SCORE_KEY, STEP_KEY, TRUNCATED_KEY, VIEW_KEY
from toolprm_tasks.inspect_adapter.prm_provider import PRMScoringAPI


def _tokens(output: ModelOutput) -> int:
    usage = output.usage
    if usage is None:
        return 0
    return int(usage.total_tokens or (usage.input_tokens + usage.output_tokens))


class InspectPolicy:
    """N candidates from one request with `num_choices=N`; a provider that returns fewer
    choices (most local ones ignore `num_choices`) is asked again, one request per missing
    candidate, concurrently."""

    def __init__(self, model: Model, temperature: float | None, max_tokens: int) -> None:
        self.model = model
        self.config = GenerateConfig(temperature=temperature, max_tokens=max_tokens)

    async def sample(self, request: PolicyRequest, n: int) -> Samples:
        message = ChatMessageUser(content=request.prompt, metadata={STEP_KEY: request.step.to_json()})
        first = await self.model.generate([message], config=self.config.merge(GenerateConfig(num_choices=n))
                                          if n > 1 else self.config)
        texts = [choice.message.text for choice in first.choices][:n]
        tokens, requests = _tokens(first), 1
        missing = n - len(texts)
        if missing > 0:
            more = await asyncio.gather(*(self.model.generate([message], config=self.config) for _ in range(missing)))
            for output in more:
                # a request that returns no choice is an empty answer: an invalid action, counted
                texts.append(output.choices[0].message.text if output.choices else "")
                tokens += _tokens(output)
            requests += missing
        return Samples(texts, tokens, requests)


def _score(output: ModelOutput) -> float | None:
    # a provider's answer is hostile input too: no usable score (None), counted
    return usable_score((output.metadata or {}).get(SCORE_KEY))


class InspectPointwiseJudge:
    """Each distinct candidate scored on its own, all of a step in one gather. The judge view
    holds that candidate alone (twice: the pointwise contract is a pair, read at position 1)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    async def score(self, context: StepContext, actions: list[Action]) -> list[Scored]:
        prefix = pointwise_context(context.functions, context.history)

        async def one(index: int, action: Action) -> Scored:
            view = JudgeView(f"{context.key}/{index}", context.functions, context.history, (action.value, action.value))
            message = ChatMessageUser(content=prefix + action.render(),
                                      metadata={VIEW_KEY: view.to_json(), POSITION_KEY: 1})
            output = await self.model.generate([message], config=GenerateConfig(max_tokens=1))
            truncated = (output.metadata or {}).get(TRUNCATED_KEY)
            return Scored(_score(output), _tokens(output), truncated if isinstance(truncated, bool) else None)

        return list(await asyncio.gather(*(one(i, a) for i, a in enumerate(actions))))


class InspectPairwiseJudge:
    """The paper's pairwise prompt (`-T prompt=standard|toolprm`) on two candidates."""

    def __init__(self, model: Model, prompt: str, max_tokens: int) -> None:
        self.model = model
        self.spec = pairwise_prompt(prompt)
        self.max_tokens = max_tokens

    async def compare(self, context: StepContext, first: Action, second: Action) -> Answer:
        text = self.spec.template.format(functions=render_functions(context.functions),
                                         history=render_history(context.history),
                                         action_1=first.render(), action_2=second.render())
        view = JudgeView(context.key, context.functions, context.history, (first.value, second.value))
        message = ChatMessageUser(content=text, metadata={VIEW_KEY: view.to_json(), LABELS_KEY: list(self.spec.labels)})
        output = await self.model.generate([message], config=GenerateConfig(max_tokens=self.max_tokens))
        parsed = parse_pairwise_answer(output.completion)
        return Answer(parsed.pick, parsed.how, _tokens(output), output.completion)


def scoring_provider(model: Model) -> bool:
    """One of our providers that returns a score per candidate (not a pairwise generator)."""
    api: Any = model.api
    if isinstance(api, BaselineJudgeAPI):
        return True
    return isinstance(api, PRMScoringAPI) and getattr(api.engine, "kind", None) != "pairwise"


def judge_protocol(model: Model, requested: str) -> str:
    """`auto`: pointwise for our scoring providers, pairwise for everything else."""
    if requested not in JUDGE_PROTOCOLS:
        raise ValueError(f"unknown judge_protocol {requested!r}; expected one of {', '.join(JUDGE_PROTOCOLS)}")
    scoring = scoring_provider(model)
    if requested == "pointwise" and not scoring:
        raise ValueError(f"judge {model.name}: judge_protocol=pointwise needs a scoring provider "
                         "(toolprm-baseline/NAME, toolprm-hf/DIR or toolprm-vllm/DIR with a scoring kind); "
                         "a chat model judges pairwise")
    if requested == "auto":
        return "pointwise" if scoring else "pairwise"
    return requested
