"""What differs between lm-eval 0.4 and 0.5, checked against the installed lm-eval (the tests run
under 0.4.13 here; `make check-lm-eval-versions` runs them under 0.4.13 and 0.5.0.dev1 too): the
start-up hook's TaskManager wrapper, the task classes of our YAMLs, and lm-eval's own table."""

from __future__ import annotations

import importlib.metadata
import types
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import evaluate, metric
from toolprm_tasks import _lm_eval_hook
from toolprm_tasks.cases import SUBSETS
from toolprm_tasks.lm_eval_task import LM_EVAL_05, ToolPRMChoiceTask, ToolPRMGenerateTask, process_results_metric
from toolprm_tasks.paths import task_yaml_dir

OURS = str(task_yaml_dir())


class _Recording:
    """Records the arguments its `__init__` received (the subclasses differ only in signature)."""

    def _record(self, **arguments: Any) -> None:
        self.seen = arguments


class _Lm04And05(_Recording):  # lm-eval 0.4.13 and 0.5.0.dev1
    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None) -> None:
        self._record(verbosity=verbosity, include_path=include_path, include_defaults=include_defaults,
                     metadata=metadata)


class _PathFirst(_Recording):
    def __init__(self, include_path=None, verbosity=None) -> None:
        self._record(include_path=include_path, verbosity=verbosity)


class _KeywordOnly(_Recording):
    def __init__(self, *, include_path=None, metadata=None) -> None:
        self._record(include_path=include_path, metadata=metadata)


class _NoIncludePath(_Recording):
    def __init__(self, verbosity=None, paths=None) -> None:
        self._record(verbosity=verbosity, paths=paths)


def _patched(original: type) -> type:
    """A copy of `original` as lm-eval's `TaskManager`, wrapped by the hook."""
    module = types.SimpleNamespace(TaskManager=type("TaskManager", (original,), {"__init__": original.__init__}))
    _lm_eval_hook._patch_task_manager(module)
    return module.TaskManager


@pytest.mark.parametrize(("original", "args", "kwargs", "expected"), [
    (_Lm04And05, ("INFO", "/mine"), {}, {"verbosity": "INFO", "include_path": [OURS, "/mine"]}),
    (_Lm04And05, (), {"include_path": ["/a", "/b"], "include_defaults": False},
     {"include_path": [OURS, "/a", "/b"], "include_defaults": False}),
    (_Lm04And05, ("INFO",), {}, {"verbosity": "INFO", "include_path": [OURS]}),
    (_Lm04And05, (None, "/mine", False, {"k": 1}), {},
     {"include_path": [OURS, "/mine"], "include_defaults": False, "metadata": {"k": 1}}),
    # include_path first, or keyword-only: a guess by position puts our folder in the wrong place
    (_PathFirst, ("/mine", "INFO"), {}, {"include_path": [OURS, "/mine"], "verbosity": "INFO"}),
    (_PathFirst, ("/mine",), {}, {"include_path": [OURS, "/mine"], "verbosity": None}),
    (_KeywordOnly, (), {"metadata": {}}, {"include_path": [OURS], "metadata": {}}),
])
def test_task_manager_hook_binds_arguments_by_the_real_signature(original: type, args: tuple, kwargs: dict,
                                                                 expected: dict[str, Any]) -> None:
    manager = _patched(original)(*args, **kwargs)
    assert {name: manager.seen[name] for name in expected} == expected


def test_task_manager_hook_leaves_a_wrong_call_to_lm_evals_own_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        _patched(_Lm04And05)(bogus=1)


def test_task_manager_hook_refuses_a_signature_without_include_path() -> None:
    with pytest.raises(TypeError, match="no include_path"):
        _patched(_NoIncludePath)


def test_installed_task_manager_is_wrapped_and_lists_our_folder_first(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    assert getattr(TaskManager.__init__, "_toolprm_tasks", False)
    positional = TaskManager(None, str(tmp_path), False)
    keyword = TaskManager(include_path=str(tmp_path), include_defaults=False)
    for manager in (positional, keyword):
        assert [str(p) for p in manager.include_path] == [OURS, str(tmp_path)]
        assert "toolprmbench_rebuilt_bfcl" in manager.all_tasks and "toolprmbench_gta_pointwise" in manager.all_tasks


def test_task_classes_are_lm_evals_own() -> None:
    from lm_eval.api import task

    if LM_EVAL_05:
        assert issubclass(ToolPRMGenerateTask, task.GenerateTask)
        assert issubclass(ToolPRMChoiceTask, task.MultipleChoiceTask)
    else:
        assert ToolPRMGenerateTask is ToolPRMChoiceTask
        assert ToolPRMGenerateTask.__mro__[1] is task.ConfigurableTask
    assert importlib.metadata.version("lm_eval").startswith("0.5" if LM_EVAL_05 else "0.4")


def test_process_results_metric_is_named_and_never_computes() -> None:
    acc = process_results_metric("acc")
    assert acc.__name__ == "acc"
    with pytest.raises(RuntimeError, match="'acc' comes from the task's process_results"):
        acc([1], [1])


def _table_rows(table: str) -> dict[tuple[str, str], str]:
    """lm-eval's Markdown table as {(task, metric): arrow}; a row without a task name continues
    the task above it."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    metric_col, arrow_col = header.index("Metric"), header.index("Metric") + 1
    rows, task = {}, ""
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        task = cells[0].lstrip("- ") or task
        rows[(task, cells[metric_col])] = cells[arrow_col]
    return rows


def test_lm_evals_table_shows_no_direction_for_first_rate(data_env) -> None:
    """Through lm-eval's own results and `make_table` (generative tasks: the ones lm-eval 0.5
    refused at load for `acc`), tasks and group alike."""
    from lm_eval.utils import make_table

    results = evaluate("toolprm-baseline", ["toolprmbench"], {"order": "both"}, model_args="judge=first")
    # results keyed by the tasks' own names (lm-eval 0.5 would write `toolprmbench::toolprmbench_gta`)
    assert set(results["results"]) == {"toolprmbench", *(f"toolprmbench_{s}" for s in SUBSETS)}
    tasks = _table_rows(make_table(results))
    groups = _table_rows(make_table(results, "groups"))
    for task in ("toolprmbench_gta", "toolprmbench_bfcl"):
        assert tasks[(task, "first_rate")] == ""
        assert (tasks[(task, "acc")], tasks[(task, "parse_fail")]) == ("↑", "↓")
        assert results["higher_is_better"][task]["first_rate"] is None  # lm-eval's schema: bool | None
        assert metric(results, task, "acc") == 0.5 and metric(results, task, "first_rate") == 1.0
        # no bootstrap of our aggregations (0.4 never did; our standard error is acc_cluster_se)
        assert results["results"][task]["acc_stderr,none"] == "N/A"
    assert groups[("toolprmbench", "first_rate")] == "" and groups[("toolprmbench", "acc")] == "↑"
