"""task_yaml/_generate_configs.py: the checked-in task grid is exactly its output, its check
reports every stale, missing or extra generated file without writing, and a write repairs them."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.names import DATA_KINDS, PROTOCOLS, TIERS
from toolprm_tasks.data import REBUILT_SUBSETS
from toolprm_tasks.lm_eval_adapter.docs import load_docs

REPO = Path(__file__).resolve().parents[1]
TASK_YAML = REPO / "task_yaml"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """The script as a module (not run as __main__: no path change; the tests' imports are this checkout's)."""
    spec = importlib.util.spec_from_file_location("task_yaml_generate_configs", TASK_YAML / "_generate_configs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def test_checked_in_files_are_the_generators_output(generator: ModuleType) -> None:
    expected = generator.render()
    on_disk = {path.name: path.read_bytes() for path in TASK_YAML.glob("toolprmbench*.yaml")}
    assert generator.differences() == []
    assert on_disk == {name: text.encode("utf-8") for name, text in expected.items()}


def test_grid_is_every_subset_under_every_protocol(generator: ModuleType) -> None:
    """Derived here from the names, not from the script: each official subset has a task per
    protocol, each rebuilt subset one per protocol and tier, and the loader takes every task's
    dataset_kwargs."""
    tasks = {}
    for path in TASK_YAML.glob("toolprmbench*.yaml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "task" in config and isinstance(config["task"], str):
            assert path.name == f"{config['task']}.yaml"
            tasks[config["task"]] = config["dataset_kwargs"]
    accepted = set(inspect.signature(load_docs).parameters) - {"others"}
    for name, kwargs in tasks.items():
        assert set(kwargs) <= accepted, name
        assert kwargs["task_protocol"] in PROTOCOLS and kwargs.get("task_data", "official") in DATA_KINDS, name
        assert kwargs.get("task_tier", "all") in TIERS, name
    official = {(k["task_subset"], k["task_protocol"]) for k in tasks.values() if "task_data" not in k}
    assert official == {(s, p) for s in SUBSETS for p in PROTOCOLS}
    rebuilt = {(k["task_subset"], k["task_protocol"], k.get("task_tier", "all")) for k in tasks.values()
               if "task_data" in k}
    assert {(s, p, "all") for s in REBUILT_SUBSETS for p in PROTOCOLS} <= rebuilt
    assert {tier for *_, tier in rebuilt} == set(TIERS)
    for path in TASK_YAML.glob("toolprmbench*.yaml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "group" in config:
            assert path.name == f"{config['group']}.yaml" and set(config["task"]) <= set(tasks), path.name


def test_check_reports_every_planted_difference_without_writing(generator: ModuleType, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "task_yaml"
    shutil.copytree(TASK_YAML, folder, ignore=shutil.ignore_patterns("__pycache__"))
    edited = folder / "toolprmbench_rebuilt_hard_tooltalk_prm.yaml"
    edited.write_bytes(edited.read_bytes().replace(b"task_tier: hard", b"task_tier: all"))
    (folder / "toolprmbench_gta_pointwise.yaml").unlink()
    (folder / "toolprmbench_retired_subset.yaml").write_text("task: gone\n", encoding="utf-8")
    # hand-written files are not the script's: an edited template is no difference
    template = folder / "_template_prm_yaml"
    template.write_text(template.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")
    before = _snapshot(folder)

    assert generator.main(["--check", "--folder", str(folder)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["missing: toolprmbench_gta_pointwise.yaml",
                       "differs: toolprmbench_rebuilt_hard_tooltalk_prm.yaml",
                       "extra: toolprmbench_retired_subset.yaml (no task of the grid: stale)"]
    assert len(out) == 4 and out[3].startswith("3 generated file(s) out of date")
    assert _snapshot(folder) == before  # --check writes nothing

    assert generator.main(["--folder", str(folder)]) == 0
    assert generator.main(["--check", "--folder", str(folder)]) == 0
    repaired = _snapshot(folder)
    assert repaired.pop("_template_prm_yaml") == template.read_bytes()  # left as the hand made it
    original = _snapshot(TASK_YAML)
    original.pop("_template_prm_yaml")
    assert repaired == original  # no temp file left, the removed one back, the stale one gone


def test_a_variant_without_its_template_is_an_error(generator: ModuleType, tmp_path: Path) -> None:
    folder = tmp_path / "task_yaml"
    shutil.copytree(TASK_YAML, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "_template_pairwise_ll_yaml").unlink()
    with pytest.raises(SystemExit, match="_template_pairwise_ll_yaml is missing"):
        generator.main(["--folder", str(folder)])
    assert not (folder / "_template_pairwise_ll_yaml").exists()
