"""The README states the versions the code has (they drift silently otherwise)."""
from __future__ import annotations

import re
from pathlib import Path

from toolprm_tasks.core.versions import TASK_VERSION

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_task_versions_match_the_code() -> None:
    text = README.read_text(encoding="utf-8")
    stated = re.findall(r"[Tt]ask version `([^`]+)`", text)
    assert stated, "README names no task version"
    assert set(stated) == {TASK_VERSION}, f"README says {sorted(set(stated))}, the code {TASK_VERSION}"


def test_readme_module_paths_exist() -> None:
    """Every `dir/file.py` the architecture and "to add" table name is a file of the package."""
    text = README.read_text(encoding="utf-8")
    root = README.parent
    named = set(re.findall(r"`((?:core|data|engines|agent_search|inspect_adapter|lm_eval_adapter|rebuild|envs)/\w+)(?:\.py)?", text))
    assert named, "README names no module"
    missing = [n for n in sorted(named) if not (root / "toolprm_tasks" / f"{n}.py").is_file()]
    assert not missing, f"README names modules that do not exist: {missing}"
