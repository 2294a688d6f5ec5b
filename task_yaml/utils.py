"""Thin re-export for the task YAMLs' `!function utils.NAME` (the code lives in the packages)."""

from toolprm_tasks.lm_eval_adapter.docs import load_docs  # noqa: F401
from toolprm_tasks.lm_eval_adapter.scoring import *  # noqa: F401,F403
from toolprm_tasks.lm_eval_adapter.task_classes import ToolPRMChoiceTask, ToolPRMGenerateTask  # noqa: F401
