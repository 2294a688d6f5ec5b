"""ToolPRMBench, ToolSandbox subset: does the judge prefer the correct next tool action?
    inspect eval toolprm_tasks/toolsandbox.py --model MODEL [-T protocol=... -T order=both]"""

from inspect_ai import Task, task

from toolprm_tasks.inspect_adapter.tasks import Data, Order, Prompt, Protocol, Tier, documented, toolprmbench_task


@task
@documented("ToolPRMBench ToolSandbox")
def toolsandbox(protocol: Protocol = "generative", order: Order = "seeded", order_seed: int = 0,
                prompt: Prompt | None = None, max_tokens: int | None = None, data: Data = "official", tier: Tier = "all",
                **other: object) -> Task:
    return toolprmbench_task(["toolsandbox"], **locals())  # the parameters as given, checked there
