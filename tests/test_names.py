"""One source for every name: the files that must repeat a name (pyproject entry points, task
YAMLs) agree with toolprm_tasks/core/names.py and toolprm_tasks/core/versions.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from toolprm_tasks.core import names
from toolprm_tasks.core.prompts import PAIRWISE_PROMPTS
from toolprm_tasks.core.versions import TASK_VERSION, TASK_VERSIONS

REPO = Path(__file__).resolve().parents[1]


def _read_toml(path: Path) -> dict:
    """tomllib from Python 3.11; on 3.10 the `tomli` package (the same code) if installed, else
    only the test that reads pyproject.toml is skipped."""
    try:
        import tomllib
    except ModuleNotFoundError:
        tomllib = pytest.importorskip("tomli", reason="reading TOML needs Python 3.11+ or the tomli package")
    return tomllib.loads(path.read_text(encoding="utf-8"))


class _Loader(yaml.SafeLoader):
    """Reads lm-eval YAMLs without resolving `!function` tags."""


_Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _yaml(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def test_entry_points_are_the_names_table() -> None:
    project = _read_toml(REPO / "pyproject.toml")["project"]
    assert project["entry-points"]["lm_eval.models"] == names.LM_EVAL_MODELS


def test_every_task_yaml_carries_the_one_task_version() -> None:
    versions = {}
    for path in sorted((REPO / "task_yaml").iterdir()):
        if path.name.endswith("yaml") and "metadata" in (config := _yaml(path)):
            versions[path.name] = config["metadata"]["version"]
    assert "_template_metrics_yaml" in versions and "toolprmbench.yaml" in versions
    assert set(versions.values()) == {TASK_VERSION}, versions
    assert TASK_VERSION == list(TASK_VERSIONS)[-1]  # the newest published version


def test_prompt_names_are_the_prompts() -> None:
    assert tuple(PAIRWISE_PROMPTS) == names.PROMPT_NAMES
    from toolprm_tasks.core.protocols import DEFAULT_PROMPT

    assert set(DEFAULT_PROMPT) == set(names.PROTOCOLS)
    assert set(DEFAULT_PROMPT.values()) <= set(names.PROMPT_NAMES)


def test_every_template_names_the_task_class_of_its_output_type() -> None:
    """lm-eval 0.5 needs our class per output type (toolprm_tasks/lm_eval_adapter/task_classes.py); 0.4 takes either."""
    classes = {"generate_until": "utils.ToolPRMGenerateTask", "multiple_choice": "utils.ToolPRMChoiceTask"}
    seen = {}
    for path in sorted((REPO / "task_yaml").iterdir()):
        if path.name.endswith("yaml") and "output_type" in (config := _yaml(path)):
            seen[path.name] = config.get("class")
            assert config.get("class") == classes[config["output_type"]], path.name
    assert set(seen) == {"_template_generative_yaml", "_template_pairwise_ll_yaml", "_template_pointwise_yaml"}
