"""Inspect entry point (`[project.entry-points.inspect_ai]`): our providers and tasks.

Providers come from the one table in names.py (`INSPECT_PROVIDERS`); each class is imported
only when Inspect first builds that provider.
"""

import importlib
from collections.abc import Callable

from inspect_ai.model import modelapi

from toolprm_tasks.core.names import INSPECT_PROVIDERS


def _provider(target: str) -> Callable[[], type]:
    module, attribute = target.split(":")

    def load() -> type:
        return getattr(importlib.import_module(module), attribute)

    return load


for _name, _target in INSPECT_PROVIDERS.items():
    modelapi(name=_name)(_provider(_target))


from toolprm_tasks.bfcl import bfcl  # noqa: E402,F401
from toolprm_tasks.gta import gta  # noqa: E402,F401
from toolprm_tasks.search import toolprm_search  # noqa: E402,F401
from toolprm_tasks.toolprmbench import toolprmbench  # noqa: E402,F401
from toolprm_tasks.toolsandbox import toolsandbox  # noqa: E402,F401
from toolprm_tasks.tooltalk import tooltalk  # noqa: E402,F401
