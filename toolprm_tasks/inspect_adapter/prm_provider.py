"""Inspect model providers `toolprm-hf/DIR` and `toolprm-vllm/DIR`: a local PRM scored by a
scoring engine.

    inspect eval toolprm_tasks/bfcl.py -T protocol=pointwise --model toolprm-hf//abs/path -M kind=classifier
    inspect eval toolprm_tasks/bfcl.py -T protocol=pointwise --model toolprm-vllm//abs/path -M kind=step

Serves the pointwise protocol: the score goes into `ModelOutput.metadata["toolprm_score"]`
(whether the history was shortened to fit: `["toolprm_truncated"]`); with `-M kind=pairwise`
the generative protocol. Requests that arrive together are scored in one engine call (up to
`--max-connections`, default 32). Options: `engines.factory`; `--model-base-url URL` scores
through a vLLM server you run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from toolprm_tasks.brief_errors import inspect_brief
from toolprm_tasks.core.trials import JudgeView
from toolprm_tasks.engines.base import EngineError, Generated, Scored, ScoreRequest
from toolprm_tasks.engines.factory import OptionError, make_engine
from toolprm_tasks.inspect_adapter.keys import POSITION_KEY, SCORE_KEY, TRUNCATED_KEY, VIEW_KEY

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs items that arrive together in one engine call, one call at a time (as Inspect's own
    `hf` provider batches generation): concurrent samples fill a batch, so vLLM schedules them
    together and the prefix cache sees both candidates of a case at once."""

    def __init__(self, run: Callable[[list[T]], list[R]]) -> None:
        self.run = run
        self.pending: list[tuple[T, asyncio.Future[R]]] = []
        self.lock = asyncio.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: T, max_batch: int) -> R:
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # a new eval() (a new event loop) reuses this model: fresh lock
            self.loop, self.lock, self.pending = loop, asyncio.Lock(), []
        future: asyncio.Future[R] = loop.create_future()
        self.pending.append((item, future))
        async with self.lock:
            await asyncio.sleep(0)  # let the callers scheduled with this one queue their items
            while not future.done():  # whoever holds the lock runs batches until its own is done
                batch, self.pending = self.pending[:max_batch], self.pending[max_batch:]
                try:
                    results = await asyncio.to_thread(self.run, [item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"the engine returned {len(results)} results for {len(batch)} requests")
                except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the error
                    for _, waiting in batch:
                        waiting.set_exception(exc)
                else:
                    for (_, waiting), result in zip(batch, results, strict=True):
                        waiting.set_result(result)
        return await future


def is_model_info_lookup(api_key: str | None) -> bool:
    """Whether Inspect builds this provider only to look up the model's info (its canonical
    name), passing a placeholder key. Inspect 0.3.285 has no public name for that key: it
    lives in the private `inspect_ai.model._model_info` (its own hf and litellm providers import
    it from there), so the private import is kept here, alone, with the value as the fallback."""
    try:
        from inspect_ai.model._model_info import (
            MODEL_INFO_LOOKUP_API_KEY,  # inspect-evals-lint: ignore[private_api_imports] -- no public name; see the docstring
        )
    except ImportError:  # another Inspect: the value 0.3.285 uses
        MODEL_INFO_LOOKUP_API_KEY = "__model_info_lookup__"
    return api_key == MODEL_INFO_LOOKUP_API_KEY


def token_usage(input_tokens: int, output_tokens: int) -> ModelUsage:
    """Usage as Inspect's summary shows it ("N tokens [I: ..., O: ...]"): the total is always
    input plus output. Our providers report what their engine tokenised (the prompt as sent;
    a pairwise answer's text); the baseline judges and the replay policy tokenise nothing and
    report zero."""
    return ModelUsage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)


class PRMScoringAPI(ModelAPI):
    """A local PRM behind a scoring engine; subclasses name the backend."""

    backend = ""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(),  # noqa: B008 (ModelAPI's own signature)
                 **options: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.scores: Batcher[ScoreRequest, Scored] = Batcher(self._score_batch)
        self.answers: Batcher[tuple[str, int], Generated] = Batcher(self._generate_batch)
        if is_model_info_lookup(api_key):
            # Inspect's model-info lookup builds a provider from the model name alone (no model
            # args) to ask for its canonical name: loading weights (or starting a vLLM engine)
            # there would cost a second engine, of the default kind, per eval
            self.engine: Any = None
            return
        if base_url:  # --model-base-url (and --model-api-key): a vLLM server of yours
            options = {**options, "base_url": base_url, **({"api_key": api_key} if api_key else {})}
        # a refused option, or a model the engine cannot load as that kind: its message alone (any
        # other error of the load keeps its traceback: it may be a bug)
        with inspect_brief(OptionError, EngineError):
            self.engine = make_engine(self.backend, model_name, options)

    def max_connections(self) -> int:
        """Effectively the batch size (as for Inspect's `hf` provider)."""
        return 32

    def close(self) -> None:
        """Inspect's end of the model's life (`with get_model(...)`): the engine is shut down
        (vLLM's engine core, our server); runs that never close it do so at exit."""
        if self.engine is not None:
            self.engine.close()
        super().close()

    def _score_batch(self, items: list[ScoreRequest]) -> list[Scored]:
        return self.engine.score_detailed(items)

    def _generate_batch(self, items: list[tuple[str, int]]) -> list[Generated]:
        return self.engine.generate_detailed([prompt for prompt, _ in items], max_tokens=[limit for _, limit in items])

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        batch = config.max_connections or self.max_connections()
        if getattr(self.engine, "kind", None) == "pairwise":
            if any(m.metadata and POSITION_KEY in m.metadata for m in input):  # a score asked of an answering kind
                raise ValueError(f"toolprm-{self.backend}/{self.model_name} with kind=pairwise answers the paper's "
                                 "pairwise prompt: use -T protocol=generative, or a scoring kind (-M kind=verifier, "
                                 "label-token, classifier, step) with -T protocol=pointwise")
            answer = await self.answers.submit((input[-1].text, config.max_tokens or 1024), batch)
            output = ModelOutput.from_content(model=self.model_name, content=answer.text)
            output.usage = token_usage(answer.prompt_tokens, answer.answer_tokens)
            return output
        message = next((m for m in reversed(input) if m.metadata and POSITION_KEY in m.metadata), None)
        if message is None:
            raise ValueError(f"toolprm-{self.backend}/{self.model_name} scores candidates of ToolPRMBench's pointwise "
                             "protocol only (-T protocol=pointwise)")
        view = JudgeView.from_json(message.metadata[VIEW_KEY])
        request = ScoreRequest(view.history, view.functions, view.candidates[int(message.metadata[POSITION_KEY]) - 1])
        scored = await self.scores.submit(request, batch)
        output = ModelOutput.from_content(model=self.model_name, content="")
        output.metadata = {SCORE_KEY: scored.score, TRUNCATED_KEY: scored.truncated, "engine": self.engine.report()}
        output.usage = token_usage(scored.prompt_tokens, 0)  # a score: nothing generated
        return output


class HFPRMAPI(PRMScoringAPI):
    backend = "hf"


class VLLMPRMAPI(PRMScoringAPI):
    backend = "vllm"
