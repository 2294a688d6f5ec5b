"""ToolPRMBench, all four subsets, with per-subset accuracy and the paper's AVG.

    inspect eval toolprm_tasks/toolprmbench.py --model MODEL
"""

from inspect_ai import Task, task

from toolprm_tasks.cases import SUBSETS
from toolprm_tasks.inspect_tasks import Order, Prompt, Protocol, toolprmbench_task


@task
def toolprmbench(
    protocol: Protocol = "generative",
    order: Order = "seeded",
    seed: int = 0,
    prompt: Prompt | None = None,
    max_tokens: int = 1024,
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
    """
    return toolprmbench_task(list(SUBSETS), protocol=protocol, order=order, seed=seed, prompt=prompt,
                             max_tokens=max_tokens)
