"""Inspect tasks for ToolPRMBench: dataset, solvers per protocol, scorer and metrics.

The task files (`gta.py`, ..., `toolprmbench.py`) are thin `@task` wrappers over
`toolprmbench_task`. Protocols:
- `generative` (default): the paper's prompt, answer parsed (`prompt=standard|toolprm`);
- `pairwise_ll`: the label's log-probabilities from the generated answer (`logprobs`);
- `pointwise`: each candidate scored on its own by a scoring provider (toolprm-baseline,
  or the PRM providers), read from `ModelOutput.metadata["toolprm_score"]`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver

from scorers.core import usable_score
from toolprm_tasks.brief_errors import for_inspect, inspect_brief
from toolprm_tasks.core import names
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.prompts import pairwise_prompt
from toolprm_tasks.core.protocols import DEFAULT_PROMPT, check_prompt_fits
from toolprm_tasks.core.protocols import protocol as protocol_named
from toolprm_tasks.core.render import render_action
from toolprm_tasks.core.trials import PROTOCOLS, Trial, build_trials
from toolprm_tasks.core.versions import TASK_VERSION, package_versions
from toolprm_tasks.data import REBUILT_SUBSETS, DataError, DataUnavailable, fingerprint, load_subsets
from toolprm_tasks.engines.factory import check_value, whole
from toolprm_tasks.inspect_adapter.keys import LABELS_KEY, POSITION_KEY, SCORE_KEY, SCORES_KEY, TRUNCATED_KEY, VIEW_KEY
from toolprm_tasks.inspect_adapter.scorer import toolprm_metrics, toolprm_scorer
from toolprm_tasks.rebuild.errors import SourceError

# the parameter types of the task files (names.py is their one source)
Protocol, Order, Prompt, Data, Tier = names.ProtocolName, names.Order, names.PromptName, names.DataKind, names.Tier

# Message metadata our scoring providers read; real model APIs never see message metadata.
LOGPROBS_TOP_K = 20
LL_MAX_TOKENS = 16


F = TypeVar("F", bound=Callable[..., Any])

TASK_ARGS_DOC = """
    Args:
        protocol: generative (paper's prompt, parsed answer), pairwise_ll (label logprobs)
            or pointwise (each candidate scored by a scoring provider).
        order: candidate order: seeded (balanced per subset, default), both, chosen_first,
            chosen_second.
        order_seed: seed of the candidate order (lm-eval's `order_seed`; was `seed` before
            task version 3-A, which is refused with its new name).
        prompt: standard (paper's evaluation prompt) or toolprm (ToolPRM prompt);
            default: standard, toolprm for pairwise_ll.
        max_tokens: generation budget of the generative protocol (default 1024; refused under
            the others, which write no answer of that length).
        data: official (the paper's release) or rebuilt (offline cases rebuilt from
            executable sources: BFCL and ToolTalk only; not the paper's data).
        tier: all, or hard (with data=rebuilt: the hard tier, a rule over each case's
            difficulty field; docs/rebuild.md).
        other: any other parameter is refused (Inspect would only warn and drop it).
"""


def documented(title: str) -> Callable[[F], F]:
    """Give a task function its docstring: the title and the parameters every ToolPRMBench
    task shares, written once (Inspect reads the docstring when @task registers it)."""

    def apply(function: F) -> F:
        function.__doc__ = f"{title} (arXiv 2601.12294).\n{TASK_ARGS_DOC}"
        return function

    return apply


def trial_sample(trial: Trial, *, protocol: str, prompt: str) -> Sample:
    """One Inspect sample per trial; the label never reaches the model."""
    spec = pairwise_prompt(prompt)
    text = protocol_named(protocol).prompt_text(trial, prompt)
    message = ChatMessageUser(content=text, metadata={VIEW_KEY: trial.judge_view().to_json(),
                                                       LABELS_KEY: list(spec.labels)})
    metadata = {**trial.metadata(), "error_type_raw": trial.case.error_type_raw, "order": trial.order}
    return Sample(id=trial.id, input=[message], target=spec.labels[trial.chosen_position - 1], metadata=metadata)


@solver
def score_candidates() -> Solver:
    """Pointwise protocol: ask the model for a score of each candidate given the history."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = get_model()
        base = state.messages[0]
        candidates = [render_action(a) for a in _candidates(base.metadata)]
        # both candidates at once: they share the whole history, which prefix caching reuses
        outputs = await asyncio.gather(*(
            model.generate([ChatMessageUser(content=base.text + candidate,
                                            metadata={**(base.metadata or {}), POSITION_KEY: position})],
                           config=GenerateConfig(max_tokens=1))
            for position, candidate in enumerate(candidates, start=1)))
        raw = [(output.metadata or {}).get(SCORE_KEY) for output in outputs]
        # a provider that never says `toolprm_score` is no scoring provider (a chat LLM): a setup
        # error, said at once. One that says it with no usable value (None, NaN) failed on this
        # trial: unscored and counted, as in lm-eval, never the end of the run
        if not any(SCORE_KEY in (output.metadata or {}) for output in outputs):
            raise RuntimeError(
                f"model {model.name} returned no '{SCORE_KEY}' in ModelOutput.metadata: the pointwise "
                "protocol needs a scoring provider (toolprm-baseline/NAME, or a PRM provider). "
                "For a chat LLM use protocol=generative or pairwise_ll, or lm-eval's "
                "toolprmbench_*_pointwise tasks (log-likelihood)."
            )
        # a score that is not a number is the model's failure on this trial: None, counted by the
        # scorer as unscorable, never a crash of the run
        scores = [usable_score(s) for s in raw]
        state.metadata[SCORES_KEY] = scores
        # whether a scoring engine shortened the history to fit; None (reported as NaN) when a
        # provider does not say, as in lm-eval: never a guessed "not shortened"
        flags = [(o.metadata or {}).get(TRUNCATED_KEY) for o in outputs]
        state.metadata[TRUNCATED_KEY] = None if None in flags else any(flags)
        return state

    return solve


def _candidates(metadata: dict[str, Any] | None) -> Sequence[Any]:
    return json.loads((metadata or {})[VIEW_KEY])["candidates"]


# how each kind of answer is asked for (core/protocols.py: a protocol's `reads`)
SOLVERS: dict[str, Callable[[int], Solver]] = {
    "text": lambda max_tokens: generate(max_tokens=max_tokens),
    "label_logprobs": lambda _: generate(logprobs=True, top_logprobs=LOGPROBS_TOP_K, max_tokens=LL_MAX_TOKENS),
    "scores": lambda _: score_candidates(),
}


def _solver(protocol: str, max_tokens: int) -> Solver:
    return SOLVERS[protocol_named(protocol).reads](max_tokens)


GENERATIVE_MAX_TOKENS = 1024  # the generative protocol's answer budget unless -T max_tokens says


def check_task_args(task: str, *, protocol: str, order: str, order_seed: Any, prompt: str | None, max_tokens: Any,
                    data: str, tier: str = "all", other: dict[str, object] | None = None) -> tuple[int, int]:
    """The parameters of a benchmark task, checked before anything loads (`-T seed=abc` or
    `max_tokens=-5` once ran; `other`: parameters the task does not take, refused); the order
    seed and max_tokens as numbers. A refused one is a ValueError that Inspect's command line
    shows as its message alone (`brief_errors.inspect_brief`)."""
    with inspect_brief(ValueError):
        names.refuse_other_params(task, other or {}, names.BENCHMARK_TASK_PARAMS)
        names.check_choice("protocol", protocol, PROTOCOLS)
        names.check_choice("order", order, names.ORDERS)
        if prompt is not None:
            names.check_choice("prompt", prompt, names.PROMPT_NAMES)
        check_prompt_fits(protocol, prompt)
        names.check_choice("data", data, names.DATA_KINDS)
        names.check_choice("tier", tier, names.TIERS)
        if max_tokens is not None and protocol_named(protocol).reads != "text":  # it was ignored, in silence
            raise ValueError(f"{task}: task parameter max_tokens does not apply to the {protocol} protocol (only "
                             "generative writes an answer); leave it out")
        return (check_value(f"{task}: task parameter order_seed", order_seed, whole()),
                GENERATIVE_MAX_TOKENS if max_tokens is None else
                check_value(f"{task}: task parameter max_tokens", max_tokens, whole(1)))


def toolprmbench_task(subsets: Sequence[str] | None, *, protocol: str = "generative", order: str = "seeded",
                      order_seed: int = 0, prompt: str | None = None, max_tokens: int | None = None,
                      data: str = "official", tier: str = "all", other: dict[str, object] | None = None) -> Task:
    """Build the Inspect task for one or more subsets (`data="rebuilt"`: the offline cases
    rebuilt from executable sources, never mixed with the official data; `tier="hard"`: their
    hard tier; `subsets` None: every subset of the chosen data; `other`: the entry file's
    `**other`, refused)."""
    if subsets is None:
        with inspect_brief(ValueError):
            subsets = SUBSETS if names.check_choice("data", data, names.DATA_KINDS) == "official" else REBUILT_SUBSETS
    task_name = "toolprmbench" if len(subsets) > 1 else f"toolprmbench_{subsets[0]}"
    order_seed, max_tokens = check_task_args(task_name, protocol=protocol, order=order, order_seed=order_seed,
                                             prompt=prompt, max_tokens=max_tokens, data=data, tier=tier, other=other)
    prompt = prompt or DEFAULT_PROMPT[protocol]
    spec = pairwise_prompt(prompt)
    try:
        loaded = load_subsets(subsets, data=data, tier=tier)
    except (DataError, SourceError) as exc:
        # the message says what to do (offline: which tasks run instead); Inspect's CLI shows it
        # without a traceback (brief_errors.for_inspect); callers catch a DataError
        if isinstance(exc, DataUnavailable):
            raise for_inspect(exc.worded_for("inspect")) from None
        raise for_inspect(exc) from exc
    cases = [case for item in loaded for case in item.cases]
    trials = build_trials(cases, order=order, seed=order_seed)
    name = "toolprmbench" if len(subsets) > 1 else f"toolprmbench_{subsets[0]}"
    if data == "rebuilt":
        name = name.replace("toolprmbench", "toolprmbench_rebuilt" + ("_hard" if tier == "hard" else ""), 1)
    return Task(
        name=name,
        dataset=MemoryDataset([trial_sample(t, protocol=protocol, prompt=prompt) for t in trials], name=name),
        solver=_solver(protocol, max_tokens),
        scorer=toolprm_scorer(protocol, spec.labels),
        metrics=toolprm_metrics(by_subset=len(subsets) > 1, pointwise=protocol_named(protocol).scores_each_candidate),
        version=TASK_VERSION,
        metadata={"protocol": protocol, "order": order, "order_seed": order_seed, "prompt": prompt, "data_kind": data, "tier": tier,
                  "data": fingerprint(loaded), "versions": package_versions("toolprm-tasks", "inspect-ai", "lm-eval")},
    )
