"""toolprm_tasks/eval.yaml and the register entry made from it, checked with inspect_evals' own
schema (inspect_evals.metadata, inspect-evals 0.28.0).

The inspect-evals wheel cannot be installed beside our package: it registers an Inspect entry
point that imports all of its evals (and its pinned dependency inspect-evals-utils is not on
PyPI). `make install` downloads the wheel into .venv/wheels/ instead; its metadata module needs
only pydantic and PyYAML and is loaded here from the wheel, without installing anything.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from toolprm_tasks import data
from toolprm_tasks.report.compat import TASK_VERSION
from toolprm_tasks.report.readme import register_entry

# inspect_evals' TaskVersion uses pydantic v1's validator hook: its deprecation warning is theirs
pytestmark = pytest.mark.filterwarnings("ignore:`__get_validators__` is deprecated")
INSPECT_EVALS = "inspect_evals-0.28.0-py3-none-any.whl"
EVAL_YAML = Path(__file__).resolve().parents[1] / "toolprm_tasks" / "eval.yaml"


def inspect_evals_metadata(tmp_path: Path) -> ModuleType:
    """inspect_evals/metadata.py from the downloaded wheel, imported as a standalone module."""
    wheel = Path(sys.prefix) / "wheels" / INSPECT_EVALS
    if not wheel.is_file():
        pytest.fail(f"{wheel} is missing: run `make install`, or `pip download --no-deps -d {wheel.parent} "
                    "inspect-evals==0.28.0`")
    target = tmp_path / "inspect_evals_metadata.py"
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read("inspect_evals/metadata.py"))
    spec = importlib.util.spec_from_file_location("inspect_evals_metadata", target)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # pydantic resolves annotations through it
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def ours() -> dict:
    return yaml.safe_load(EVAL_YAML.read_text(encoding="utf-8"))


def test_eval_yaml_validates_against_inspect_evals_schema(ours: dict, tmp_path: Path) -> None:
    schema = inspect_evals_metadata(tmp_path)
    parsed = schema.InternalEvalMetadata(**ours, id="toolprm_tasks")  # the loader sets id from the folder
    assert str(parsed.version) == TASK_VERSION
    assert all(asset.state.value == "pinned" for asset in parsed.external_assets)


def test_eval_yaml_agrees_with_the_pins_and_the_tasks(ours: dict) -> None:
    from toolprm_tasks import _inspect_registry

    counts = {t["name"]: t["dataset_samples"] for t in ours["tasks"]}
    assert counts["toolprmbench"] == sum(p.cases for p in data.PINNED_FILES.values()) == 445
    for subset, pin in data.PINNED_FILES.items():
        assert counts[subset] == pin.cases
        assert callable(getattr(_inspect_registry, subset))  # an Inspect task of that name
        (asset,) = [a for a in ours["external_assets"] if a["source"].endswith("/" + pin.filename)]
        assert asset["source"] == f"{data.DEFAULT_BASE_URL}/{pin.filename}"  # the pinned commit's raw URL
        if pin.sha256:
            assert f"sha256 {pin.sha256}" in asset["comment"] and f"{pin.size} bytes" in asset["comment"]
        else:
            assert "no digest" in asset["comment"]
    assert len(ours["external_assets"]) == len(data.PINNED_FILES)


def test_register_entry_validates_against_inspect_evals_schema(ours: dict, tmp_path: Path) -> None:
    schema = inspect_evals_metadata(tmp_path)
    block = {"results": [{"model": "schema", "provider": "toolprm-baseline", "task": "toolprmbench",
                          "metrics": [{"key": "accuracy", "value": 0.5}, {"key": "stderr", "value": 0.02}],
                          "time": "3.0 s", "date": "2026-11-26", "framework": "inspect", "flags": []}],
             "commit": "0" * 40, "version": TASK_VERSION, "command": "toolprmbench report logs --out r"}
    entry = register_entry(ours, "https://github.com/example/toolprm-tasks", "0" * 40, block)
    parsed = schema.ExternalEvalMetadata(**entry, id="toolprmbench")
    assert parsed.tasks[0].task_path == "toolprm_tasks/toolprmbench.py"
    assert Path(EVAL_YAML.parents[1] / parsed.tasks[0].task_path).is_file()
    assert parsed.evaluation_report.results[0].metrics[0].value == 0.5
    with pytest.raises(Exception, match="unknown task"):  # the schema's own check is live
        schema.ExternalEvalMetadata(**{**entry, "evaluation_report": {
            **block, "results": [{**block["results"][0], "task": "gta"}]}}, id="toolprmbench")
