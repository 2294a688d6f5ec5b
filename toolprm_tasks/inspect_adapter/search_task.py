"""Reward-guided best-of-N search in BFCL's executable multi-turn environments.

    inspect eval toolprm_tasks/search.py --model POLICY --model-role judge=JUDGE [-T n=8 ...]
    inspect eval toolprm_tasks/search.py --model toolprm-replay/8 --model-role judge=toolprm-baseline/schema

One sample per BFCL multi-turn conversation (800; `-T category=` selects). The policy (the
evaluated model) proposes N candidate next actions per step; the judge (model role `judge`)
or a reference selector picks one; the environment executes it; BFCL's verdict says whether each
turn and the conversation are solved (ToolPRMBench, arXiv 2601.12294, section 5.1: does a
judge's benchmark accuracy turn into search gain?). Loop, selectors and checks:
`toolprm_tasks/agent_search/`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, get_model, model_roles
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, grouped, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from toolprm_tasks.agent_search.check import reference
from toolprm_tasks.agent_search.loop import DEFAULT_MAX_STEPS, Rollout, run_conversation
from toolprm_tasks.agent_search.metrics import REFERENCES, aggregate, score_value
from toolprm_tasks.agent_search.selector import make_selector
from toolprm_tasks.brief_errors import for_inspect, inspect_brief
from toolprm_tasks.core import names
from toolprm_tasks.core.versions import SEARCH_VERSION, package_versions
from toolprm_tasks.engines.factory import check_value, flag, number, whole
from toolprm_tasks.envs.bfcl import BFCL_VERSION, CATEGORIES, Conversation, load_conversations
from toolprm_tasks.inspect_adapter.keys import RESULT_KEY
from toolprm_tasks.inspect_adapter.search_judges import (
    InspectPairwiseJudge,
    InspectPointwiseJudge,
    InspectPolicy,
    judge_protocol,
)

F = TypeVar("F", bound=Callable[..., Any])
SelectorName, JudgeProtocol, Prompt = names.SelectorName, names.JudgeProtocol, names.PromptName


def _categories(category: Any) -> tuple[str, ...]:
    """The BFCL categories `-T category=` names: `all`, or some of CATEGORIES (comma-separated
    text or a list of texts). Anything else, an empty value included (`-T category=` reads
    as null), is a ValueError naming `category`, never all categories by default."""
    expected = f"expected some of {', '.join(CATEGORIES)} (comma-separated, or a list) or all"
    if category == "all":
        return CATEGORIES
    if isinstance(category, str):
        items = category.split(",")
    elif isinstance(category, (list, tuple)) and all(isinstance(c, str) for c in category):
        items = list(category)
    else:
        raise ValueError(f"category must be text or a list of texts, got {category!r}; {expected}")
    names = [c.strip() for c in items if c.strip()]
    if not names:
        raise ValueError(f"category is empty ({category!r}); {expected}")
    unknown = [c for c in names if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown category {unknown!r}; {expected}")
    return tuple(dict.fromkeys(names))


@functools.cache
def _conversations(categories: tuple[str, ...]) -> dict[str, Conversation]:
    """The categories' conversations by id (read once per process; never a solver parameter,
    which Inspect would write into the log)."""
    return {c.id: c for c in load_conversations(categories)}


def _sample(conversation: Conversation) -> Sample:
    first_turn = " ".join(str(m.get("content", "")) for m in conversation.turns[0]) if conversation.turns else ""
    return Sample(id=conversation.id, input=first_turn, target="",
                  metadata={"category": conversation.category, "turns": len(conversation.turns),
                            "gold_calls": sum(len(t) for t in conversation.gold),
                            "involved_classes": list(conversation.involved_classes)})


@metric
def success() -> Metric:
    """Share of conversations solved (BFCL's verdict on every turn)."""

    def compute(scores: list[SampleScore]) -> float:
        return aggregate([s.score.value for s in scores])["success"]  # type: ignore[misc]

    return compute


@metric
def search_metrics() -> Metric:
    """Every pooled metric of the search (`agent_search.metrics.aggregate`), one entry each."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        return aggregate([s.score.value for s in scores])  # type: ignore[misc]

    return compute


@solver
def search_solver(*, n: int, temperature: float | None, selector: str | None, judge_protocol_name: str,
                  both_orders: bool, prompt: str, max_steps: int, seed: int, max_tokens: int,
                  judge_max_tokens: int, compare: bool | None, categories: list[str]) -> Solver:
    """Roll the policy out under the selector (and the reference selectors, for the gain)."""
    conversations = _conversations(tuple(categories))
    if selector == "judge" and _roles_known():
        _check_judge_bound()  # at task start: `inspect eval` resolves the task with its roles bound

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if selector == "judge":
            _check_judge_bound()  # a task built before eval() saw no roles: first thing in each sample
        conversation = conversations[str(state.sample_id)]
        ref = reference(conversation)
        policy = InspectPolicy(get_model(), temperature, max_tokens)
        chosen = selector or ("judge" if model_roles().get("judge") else "first")
        selector_kwargs: dict[str, Any] = {}
        protocol = ""
        if chosen == "judge":
            judge = get_model(role="judge", required=True)
            protocol = judge_protocol(judge, judge_protocol_name)
            if protocol == "pointwise":
                selector_kwargs["pointwise_judge"] = InspectPointwiseJudge(judge)
            else:
                selector_kwargs["pairwise_judge"] = InspectPairwiseJudge(judge, prompt, judge_max_tokens)
        runs = {chosen: (make_selector(chosen, both_orders=both_orders, **selector_kwargs),
                         1 if chosen == "first" else n)}
        if compare if compare is not None else chosen in ("judge", "oracle", "random"):
            for name in REFERENCES:
                runs.setdefault(name, (make_selector(name), 1 if name == "first" else n))
        rollouts = await asyncio.gather(*(
            run_conversation(ref, policy, run, selector_name=name, n=size, max_steps=max_steps, seed=seed)
            for name, (run, size) in runs.items()))
        results = dict(zip(runs, rollouts, strict=True))
        main = results[chosen]
        # the whole record, in the log's sample metadata: candidates, oracle verdicts, judge
        # scores or comparisons, choices and observations of every step, for re-analysis
        state.metadata[RESULT_KEY] = {
            "selector": chosen, "judge_protocol": protocol, "rollout": main.to_json(),
            "references": {name: r.to_json() for name, r in results.items() if name != chosen},
        }
        state.messages = _transcript(conversation, main)
        return state

    return solve


def _roles_known() -> bool:
    """Whether eval() is resolving this task now, so that `model_roles()` holds the run's roles.
    Inspect binds the roles and the evaluated model before it calls a task function (and with it
    a solver's init); a task built outside eval() sees neither, and its roles arrive only with
    its samples."""
    try:
        # private: no public API says whether eval() is resolving this task (without it, each sample checks)
        from inspect_ai.model._model import active_model  # inspect-evals-lint: ignore[private_api_imports] -- see above
    except ImportError:  # another Inspect: checked in each sample only
        return False
    return active_model() is not None


def _check_judge_bound() -> None:
    if not model_roles().get("judge"):
        raise for_inspect(ValueError("toolprm_search: selector=judge needs a judge model: bind one with --model-role "
                         "judge=MODEL (Python: eval(..., model_roles={'judge': MODEL})), or choose another "
                         f"selector ({', '.join(s for s in names.SELECTORS if s != 'judge')})"))


def _transcript(conversation: Conversation, rollout: Rollout) -> list[Any]:
    """The chosen trajectory, for reading in `inspect view` (the record is in the score)."""
    messages: list[Any] = []
    for messages_of_turn, turn in zip(conversation.turns, rollout.turns, strict=False):
        messages.extend(ChatMessageUser(content=str(m.get("content", ""))) for m in messages_of_turn)
        for step in turn["steps"]:
            action = step["candidates"][step["chosen"]]["action"]
            text = action["value"] if isinstance(action["value"], str) else str(action["value"])
            messages.append(ChatMessageAssistant(content=f"[{action['kind']}] {text}"))
            if step["observation"] is not None:
                messages.append(ChatMessageUser(content=f"[observation] {step['observation']}"))
    return messages


@scorer(metrics=[])  # the task gives the metrics
def search_scorer() -> Scorer:
    """BFCL's verdict of the rollouts (computed in the loop); the whole record in the metadata."""

    async def score(state: TaskState, target: Target) -> Score:
        result = state.metadata[RESULT_KEY]
        main = result["rollout"]
        references = dict(result["references"])
        if result["selector"] in REFERENCES:  # the main run is its own reference
            references[result["selector"]] = main
        verdicts = "".join("1" if t["verdict"]["solved"] else "0" for t in main["turns"])
        return Score(
            value=score_value(main, references),
            answer="solved" if main["success"] else "failed",
            explanation=f"selector={result['selector']}: turns solved {verdicts or '-'} of {main['counts']['turns']}"
                        + (" (force-terminated at the step limit)" if main["force_terminated"] else ""),
            metadata={"selector": result["selector"], "judge_protocol": result["judge_protocol"],
                      "record": f"sample metadata '{RESULT_KEY}'"},
        )

    return score


def search_task(
    category: str | list[str] = "all",
    n: int = 8,
    temperature: float | None = 0.7,
    selector: SelectorName | None = None,
    judge_protocol: JudgeProtocol = "auto",
    both_orders: bool = False,
    prompt: Prompt = "standard",
    max_steps: int = DEFAULT_MAX_STEPS,
    seed: int = 0,
    max_tokens: int = 512,
    judge_max_tokens: int = 1024,
    compare: bool | None = None,
    other: dict[str, object] | None = None,
) -> Task:
    """Best-of-N search in BFCL's multi-turn environments with a judge choosing each action
    (the Inspect task `toolprm_search`, toolprm_tasks/search.py).

    Args:
        category: BFCL multi-turn categories, comma-separated (base, long_context, miss_func,
            miss_param) or all.
        n: candidate next actions sampled per step (one request with num_choices=n where the
            provider allows).
        temperature: the policy's sampling temperature.
        selector: judge (the model role `judge` chooses; the default when one is bound), first
            (the policy alone: one sample per step), random, majority (self-consistency) or
            oracle (a candidate whose effect matches the gold step: the upper bound).
        judge_protocol: auto (pointwise for our scoring providers, pairwise for other models),
            pointwise or pairwise.
        both_orders: pairwise judges: ask each knockout comparison in both orders.
        prompt: the pairwise judge's prompt: standard (the paper's) or toolprm.
        max_steps: calls per user turn before the agent is force-terminated (BFCL: 20).
        seed: seed of tie-breaks, the knockout order and the random selector.
        max_tokens: the policy's answer budget per candidate.
        judge_max_tokens: the pairwise judge's answer budget.
        compare: also run the first and majority selectors on the same conversation (paired gain);
            default: for selector=judge, oracle and random.
        other: the entry file's `**other`, parameters it does not take: refused (a renamed
            one, e.g. select, names its new name).
    """
    with inspect_brief(ValueError):  # a refused parameter: its message alone on Inspect's command line
        names.refuse_other_params("toolprm_search", other or {}, names.SEARCH_TASK_PARAMS)
        categories = _categories(category)
        # every parameter read by its rule before anything runs (`-T temperature=-1`, `seed=abc` once ran)
        what = "toolprm_search: task parameter"
        n, max_steps, seed, max_tokens, judge_max_tokens = (
            check_value(f"{what} {name}", value, rule) for name, value, rule in (
                ("n", n, whole(1)), ("max_steps", max_steps, whole(1)), ("seed", seed, whole()),
                ("max_tokens", max_tokens, whole(1)), ("judge_max_tokens", judge_max_tokens, whole(1))))
        if temperature is not None:
            temperature = check_value(f"{what} temperature", temperature, number(0))
        both_orders = check_value(f"{what} both_orders", both_orders, flag)
        if compare is not None:
            compare = check_value(f"{what} compare", compare, flag)
        if selector is not None:
            names.check_choice("selector", selector, names.SELECTORS)
        names.check_choice("judge_protocol", judge_protocol, names.JUDGE_PROTOCOLS)
        names.check_choice("prompt", prompt, names.PROMPT_NAMES)
    conversations = _conversations(categories)
    too_long = sum(1 for c in conversations.values() if any(len(turn) > max_steps for turn in c.gold))
    return Task(
        name="toolprm_search",
        dataset=MemoryDataset([_sample(c) for c in conversations.values()], name="bfcl_multi_turn"),
        solver=search_solver(n=n, temperature=temperature, selector=selector, judge_protocol_name=judge_protocol,
                             both_orders=both_orders, prompt=prompt, max_steps=max_steps, seed=seed,
                             max_tokens=max_tokens, judge_max_tokens=judge_max_tokens, compare=compare,
                             categories=list(categories)),
        scorer=search_scorer(),
        metrics=[search_metrics(), grouped(success(), "category", all=False, name_template="success_{group_name}")],
        version=SEARCH_VERSION,
        metadata={"categories": list(categories), "n": n, "temperature": temperature, "selector": selector,
                  "judge_protocol": judge_protocol, "both_orders": both_orders, "prompt": prompt,
                  "max_steps": max_steps, "seed": seed, "bfcl_eval": BFCL_VERSION,
                  "conversations_beyond_step_limit": too_long, "versions": package_versions("toolprm-tasks", "inspect-ai", "lm-eval")},
    )


def documented(function: F) -> F:
    """Give the entry file's task this builder's docstring (Inspect reads it at @task)."""
    function.__doc__ = search_task.__doc__
    return function
