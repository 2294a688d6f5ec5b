"""Thin re-export for the task YAMLs' `!function utils.NAME` (the code lives in the packages)."""

from scorers.lm_eval_adapter import *  # noqa: F401,F403
from toolprm_tasks.lm_eval_docs import load_docs  # noqa: F401
from toolprm_tasks.lm_eval_task import ToolPRMChoiceTask, ToolPRMGenerateTask  # noqa: F401
