"""Inspect entry point (`[project.entry-points.inspect_ai]`): providers and tasks."""

from inspect_ai.model import modelapi


@modelapi(name="toolprm-baseline")
def toolprm_baseline() -> type:
    from toolprm_tasks.inspect_baseline import BaselineJudgeAPI

    return BaselineJudgeAPI


@modelapi(name="toolprm-hf")
def toolprm_hf() -> type:
    from toolprm_tasks.inspect_prm import HFPRMAPI

    return HFPRMAPI


@modelapi(name="toolprm-vllm")
def toolprm_vllm() -> type:
    from toolprm_tasks.inspect_prm import VLLMPRMAPI

    return VLLMPRMAPI


@modelapi(name="toolprm-replay")
def toolprm_replay() -> type:
    from toolprm_tasks.inspect_replay import ReplayPolicyAPI

    return ReplayPolicyAPI


from toolprm_tasks.bfcl import bfcl  # noqa: E402,F401
from toolprm_tasks.gta import gta  # noqa: E402,F401
from toolprm_tasks.search import toolprm_search  # noqa: E402,F401
from toolprm_tasks.toolprmbench import toolprmbench  # noqa: E402,F401
from toolprm_tasks.toolsandbox import toolsandbox  # noqa: E402,F401
from toolprm_tasks.tooltalk import tooltalk  # noqa: E402,F401
