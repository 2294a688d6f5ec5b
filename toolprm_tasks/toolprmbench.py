"""ToolPRMBench, all four subsets, with per-subset accuracy and the paper's AVG.
    inspect eval toolprm_tasks/toolprmbench.py --model MODEL"""

from inspect_ai import Task, task

from toolprm_tasks.inspect_adapter.tasks import Data, Order, Prompt, Protocol, Tier, documented, toolprmbench_task


@task
@documented("ToolPRMBench: GTA, ToolTalk, BFCL and ToolSandbox together (per-subset accuracy and the paper's AVG)")
def toolprmbench(protocol: Protocol = "generative", order: Order = "seeded", order_seed: int = 0,
                 prompt: Prompt | None = None, max_tokens: int | None = None, data: Data = "official", tier: Tier = "all",
                 **other: object) -> Task:
    return toolprmbench_task(None, **locals())  # the parameters as given, checked there
