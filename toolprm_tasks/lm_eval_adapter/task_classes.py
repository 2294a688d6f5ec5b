"""The task classes of our lm-eval YAMLs (`class: !function utils.ToolPRMGenerateTask`).

They are lm-eval's own classes. Under lm-eval 0.4 they change nothing. lm-eval 0.5 (checked
with 0.5.0.dev1) reads four things of our tasks differently, and the 0.5 classes put each back
to what 0.4 does, so both give the same results file (`make check-lm-eval-versions`):

- it resolves a metric's name against its metric registry and refuses a registered metric of
  another output type: `acc` (registered for loglikelihood/multiple_choice) stops our
  generative tasks at load, although `process_results` supplies every value. A callable is
  taken under its `__name__` without that check, so each name becomes a callable of that name
  that lm-eval never calls (as lm-eval's own placeholder for unregistered names, which also
  keeps it from warning once per metric);
- it turns an explicit `higher_is_better: null` (no better direction: `first_rate`) into
  true, drawn as ↑ in its table; its results schema, like 0.4's, allows null;
- it bootstraps the standard error of every aggregation other than its `mean`, 100,000 draws
  each (minutes per metric and task, and no command-line option turns it off in 0.5.0.dev1).
  lm-eval 0.4 bootstraps only its own listed aggregations and reports ours as N/A; our
  standard error is `acc_cluster_se` (clustered by case, which a bootstrap over trials is not);
- it keys a group's task as `group::task` in its results (so that one task may sit in several
  groups); 0.4 keys it by the task's name, which our readers of results files use (the report,
  the demo). Each of our tasks belongs to one group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

try:  # lm-eval 0.5: one task class per output type
    from lm_eval.api.task import GenerateTask, MultipleChoiceTask
except ImportError:  # lm-eval 0.4: ConfigurableTask serves every output type
    GenerateTask = MultipleChoiceTask = None
from lm_eval.api.task import ConfigurableTask

from toolprm_tasks.core.versions import LM_EVAL_PACKAGE_VERSION_KEY, package_version

LM_EVAL_05 = GenerateTask is not None


def _task_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The YAML's config without `class`: lm-eval hands the key to the task, whose config
    refuses it (a task YAML of lm-eval's own with `class` builds its config itself)."""
    if config is None:
        raise ValueError("toolprm-tasks: a task class of task_yaml/ is built from its YAML config")
    return {key: value for key, value in config.items() if key != "class"}


def _record_package_version(task: ConfigurableTask) -> None:
    """Write this package's installed version into the task's metadata, which lm-eval dumps
    into its results file (`configs.<task>.metadata`): lm-eval records its own version only,
    and a result should say which toolprm-tasks scored it (the report reads it as `made_with`).
    Set after lm-eval built the task, so the value is never one given with `--metadata`. lm-eval
    0.4 has loaded the docs by then; 0.5 loads them later and hands the key to the docs loader,
    which ignores it (lm_eval_adapter/docs.py)."""
    metadata = task.config.metadata if isinstance(task.config.metadata, dict) else {}
    task.config.metadata = {**metadata, LM_EVAL_PACKAGE_VERSION_KEY: package_version()}


def process_results_metric(name: str) -> Callable[..., Any]:
    """A metric named `name` whose values come from the task's `process_results` (lm-eval 0.5
    takes a callable under its `__name__`); calling it is an error, as for lm-eval's own
    placeholder."""

    def metric(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"toolprm-tasks: metric {name!r} comes from the task's process_results; "
                           "lm-eval called it as a metric function")

    metric.__name__ = metric.__qualname__ = name
    return metric


class _Lm05AsLm04:
    """lm-eval 0.5: our tasks read as lm-eval 0.4 reads them (module docstring)."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        config = _task_config(config)
        entries = [dict(entry) for entry in config.get("metric_list") or ()]
        self._no_direction = {entry["metric"] for entry in entries
                              if "higher_is_better" in entry and entry["higher_is_better"] is None}
        for entry in entries:
            if isinstance(entry.get("metric"), str):
                entry["metric"] = process_results_metric(entry["metric"])
        super().__init__(config={**config, "metric_list": entries})  # type: ignore[call-arg]
        _record_package_version(self)  # type: ignore[arg-type]

    def higher_is_better(self) -> dict[str, bool | None]:
        directions = super().higher_is_better()  # type: ignore[misc]
        return {name: None if name in self._no_direction else better for name, better in directions.items()}

    def aggregate(self, bootstrap_iters: int | None = 100000) -> tuple[dict[str, Any], int]:
        return super().aggregate(bootstrap_iters=0)  # type: ignore[misc]

    @property
    def _qualified_name(self) -> str:
        return self.task_name  # type: ignore[attr-defined]


if LM_EVAL_05:

    class ToolPRMGenerateTask(_Lm05AsLm04, GenerateTask):  # type: ignore[misc,valid-type]
        """Protocols a/b (generate_until) under lm-eval 0.5."""

    class ToolPRMChoiceTask(_Lm05AsLm04, MultipleChoiceTask):  # type: ignore[misc,valid-type]
        """Protocols c/d (multiple_choice) under lm-eval 0.5."""

else:

    class ToolPRMTask(ConfigurableTask):
        """lm-eval 0.4's own YAML task class (what a task YAML without `class` gets)."""

        def __init__(self, config: Mapping[str, Any] | None = None) -> None:
            super().__init__(config=_task_config(config))
            _record_package_version(self)

    ToolPRMGenerateTask = ToolPRMChoiceTask = ToolPRMTask
