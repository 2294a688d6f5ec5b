"""ToolPRMBench, GTA subset: does the judge prefer the correct next tool action?

    inspect eval toolprm_tasks/gta.py --model MODEL [-T protocol=... -T order=both]
"""

from inspect_ai import Task, task

from toolprm_tasks.inspect_tasks import Data, Order, Prompt, Protocol, toolprmbench_task


@task
def gta(
    protocol: Protocol = "generative",
    order: Order = "seeded",
    seed: int = 0,
    prompt: Prompt | None = None,
    max_tokens: int = 1024,
    data: Data = "official",
) -> Task:
    """ToolPRMBench GTA (arXiv 2601.12294).

    Args:
        protocol: generative (paper's prompt, parsed answer), pairwise_ll (label logprobs)
            or pointwise (each candidate scored by a scoring provider).
        order: candidate order: seeded (balanced, default), both, chosen_first, chosen_second.
        seed: seed of the candidate order (and of the random baseline).
        prompt: standard (paper's evaluation prompt) or toolprm (ToolPRM prompt);
            default: standard, toolprm for pairwise_ll.
        max_tokens: generation budget of the generative protocol.
        data: official (the paper's release) or rebuilt (offline cases rebuilt from
            executable sources: BFCL and ToolTalk only; not the paper's data).
    """
    return toolprmbench_task(["gta"], protocol=protocol, order=order, seed=seed, prompt=prompt,
                             max_tokens=max_tokens, data=data)
