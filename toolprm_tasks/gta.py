"""ToolPRMBench, GTA subset: does the judge prefer the correct next tool action?
    inspect eval toolprm_tasks/gta.py --model MODEL [-T protocol=... -T order=both]"""

from inspect_ai import Task, task

from toolprm_tasks.inspect_adapter.tasks import Data, Order, Prompt, Protocol, Tier, documented, toolprmbench_task


@task
@documented("ToolPRMBench GTA")
def gta(protocol: Protocol = "generative", order: Order = "seeded", order_seed: int = 0,
        prompt: Prompt | None = None, max_tokens: int | None = None, data: Data = "official", tier: Tier = "all",
        **other: object) -> Task:
    return toolprmbench_task(["gta"], **locals())  # the parameters as given, checked there
