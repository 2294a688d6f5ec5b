"""Reward-guided best-of-N search in BFCL's executable environments (docs/search.md).

    inspect eval toolprm_tasks/search.py --model POLICY --model-role judge=JUDGE [-T n=8 -T selector=judge]
"""

from inspect_ai import Task, task

from toolprm_tasks.agent_search.loop import DEFAULT_MAX_STEPS
from toolprm_tasks.inspect_adapter.search_task import JudgeProtocol, Prompt, SelectorName, documented, search_task


@task
@documented
def toolprm_search(category: str | list[str] = "all", n: int = 8, temperature: float | None = 0.7,
                   selector: SelectorName | None = None, judge_protocol: JudgeProtocol = "auto",
                   both_orders: bool = False, prompt: Prompt = "standard", max_steps: int = DEFAULT_MAX_STEPS,
                   seed: int = 0, max_tokens: int = 512, judge_max_tokens: int = 1024, compare: bool | None = None,
                   **other: object) -> Task:
    return search_task(**locals())  # the parameters as given, checked there
