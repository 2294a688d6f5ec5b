"""Every name a user types, defined once: protocols, candidate orders, prompts, data kinds,
engine kinds and our model names (lm-eval models, Inspect providers).

Standard library only: the lm-eval start-up hook reads `LM_EVAL_MODELS` at interpreter start.
The typing `Literal`s are the source (Inspect validates `-T` values against them); the tuples
are derived from them. pyproject.toml's lm-eval entry points are checked against
`LM_EVAL_MODELS` by tests/test_names.py; the Inspect registry module builds its providers from
`INSPECT_PROVIDERS`.
"""

from __future__ import annotations

import difflib
from typing import Literal, get_args

ProtocolName = Literal["generative", "pairwise_ll", "pointwise"]  # not typing.Protocol
Order = Literal["seeded", "both", "chosen_first", "chosen_second"]
PromptName = Literal["standard", "toolprm"]
DataKind = Literal["official", "rebuilt"]
# the rebuilt set's tiers (a rule over each case's difficulty field) and splits
Tier = Literal["all", "hard"]
Split = Literal["test", "train"]
Kind = Literal["classifier", "step", "label-token", "verifier", "pairwise"]
# the search task: how a step's action is chosen, and how the judge is asked
SelectorName = Literal["judge", "first", "random", "majority", "oracle"]
JudgeProtocol = Literal["auto", "pointwise", "pairwise"]
# the search's replay policy: where the gold action sits among its K candidates
ReplayOrder = Literal["seeded", "gold_first", "gold_last"]

PROTOCOLS: tuple[str, ...] = get_args(ProtocolName)
ORDERS: tuple[str, ...] = get_args(Order)
PROMPT_NAMES: tuple[str, ...] = get_args(PromptName)
DATA_KINDS: tuple[str, ...] = get_args(DataKind)
TIERS: tuple[str, ...] = get_args(Tier)
SPLITS: tuple[str, ...] = get_args(Split)
KINDS: tuple[str, ...] = get_args(Kind)
SCORING_KINDS: tuple[str, ...] = KINDS[:4]  # `pairwise` generates the paper's answer instead
SELECTORS: tuple[str, ...] = get_args(SelectorName)
JUDGE_PROTOCOLS: tuple[str, ...] = get_args(JudgeProtocol)
REPLAY_ORDERS: tuple[str, ...] = get_args(ReplayOrder)

# lm-eval model name -> "module:class" (the hook registers these lazily; pyproject declares them)
LM_EVAL_MODELS: dict[str, str] = {
    "toolprm-baseline": "toolprm_tasks.lm_eval_adapter.baseline_model:BaselineJudgeLM",
    "toolprm-hf": "toolprm_tasks.lm_eval_adapter.prm_model:HFPRMLM",
    "toolprm-vllm": "toolprm_tasks.lm_eval_adapter.prm_model:VLLMPRMLM",
}
# Inspect provider name -> "module:class" (the registry module builds a @modelapi for each)
INSPECT_PROVIDERS: dict[str, str] = {
    "toolprm-baseline": "toolprm_tasks.inspect_adapter.baseline_provider:BaselineJudgeAPI",
    "toolprm-hf": "toolprm_tasks.inspect_adapter.prm_provider:HFPRMAPI",
    "toolprm-vllm": "toolprm_tasks.inspect_adapter.prm_provider:VLLMPRMAPI",
    "toolprm-replay": "toolprm_tasks.inspect_adapter.replay_provider:ReplayPolicyAPI",  # the search task's replay policy
}


# Inspect task parameters renamed, old name: (new name, the version that renamed it). Inspect
# 0.3.285 only warns about a -T name a task does not take and drops it: the tasks take
# `**other` and refuse these by name.
RENAMED_TASK_PARAMS: dict[str, tuple[str, str]] = {"seed": ("order_seed", "task version 3-A"),
                                                   "select": ("selector", "search version 2-A")}


# the -T parameters of the benchmark tasks (toolprm_tasks/<subset>.py, toolprmbench.py)
BENCHMARK_TASK_PARAMS = ("protocol", "order", "order_seed", "prompt", "max_tokens", "data", "tier")
# of the search task (toolprm_tasks/search.py)
SEARCH_TASK_PARAMS = ("category", "n", "temperature", "selector", "judge_protocol", "both_orders", "prompt",
                      "max_steps", "seed", "max_tokens", "judge_max_tokens", "compare")


def refuse_other_params(task: str, other: dict[str, object], known: tuple[str, ...] = ()) -> None:
    """A task parameter the task does not take: a renamed one names its new name and the
    version that renamed it, any other is refused (never dropped with a warning, as Inspect
    would), naming the closest known one and all of them."""
    for name in other:
        renamed = RENAMED_TASK_PARAMS.get(name)
        if renamed is not None and (not known or renamed[0] in known):  # renamed in this task
            new, since = renamed
            raise ValueError(f"{task}: task parameter {name} is now {new} ({since}): -T {new}={other[name]}")
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        listed = f" (known: {', '.join(known)})" if known else ""
        raise ValueError(f"{task}: unknown task parameter {name!r}{hint}{listed}")


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`, else a ValueError naming them all."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}")
    return value
