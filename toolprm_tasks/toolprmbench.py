"""ToolPRMBench, all four subsets, with per-subset accuracy and the paper's AVG.

    inspect eval toolprm_tasks/toolprmbench.py --model MODEL
"""

from inspect_ai import Task, task

from toolprm_tasks.cases import SUBSETS
from toolprm_tasks.data import REBUILT_SUBSETS
from toolprm_tasks.inspect_tasks import Data, Order, Prompt, Protocol, toolprmbench_task


@task
def toolprmbench(
    protocol: Protocol = "generative",
    order: Order = "seeded",
    seed: int = 0,
    prompt: Prompt | None = None,
    max_tokens: int = 1024,
    data: Data = "official",
) -> Task:
    """ToolPRMBench (arXiv 2601.12294): GTA, ToolTalk, BFCL and ToolSandbox together.

    Args:
        protocol: generative (paper's prompt, parsed answer), pairwise_ll (label logprobs)
            or pointwise (each candidate scored by a scoring provider).
        order: candidate order: seeded (balanced per subset, default), both, chosen_first,
            chosen_second.
        seed: seed of the candidate order (and of the random baseline).
        prompt: standard (paper's evaluation prompt) or toolprm (ToolPRM prompt);
            default: standard, toolprm for pairwise_ll.
        max_tokens: generation budget of the generative protocol.
        data: official (the paper's release) or rebuilt (offline cases rebuilt from
            executable sources: BFCL and ToolTalk only; not the paper's data).
    """
    subsets = list(SUBSETS) if data == "official" else list(REBUILT_SUBSETS)
    return toolprmbench_task(subsets, protocol=protocol, order=order, seed=seed, prompt=prompt,
                             max_tokens=max_tokens, data=data)
