"""Hatch build hook: editable installs get the lm-eval discovery .pth, and nothing else extra.

A wheel force-includes `task_yaml/` (as `toolprm_tasks/task_yaml`) and the .pth. An editable
install reads `task_yaml/` from the source tree, so it must not receive a stale copy of it;
it still needs the .pth, which a plain editable build would leave out.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            build_data["force_include_editable"] = {
                "toolprm_tasks_lm_eval.pth": "toolprm_tasks_lm_eval.pth"
            }
