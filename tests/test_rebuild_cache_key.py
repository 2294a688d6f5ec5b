"""The default rebuilt set's cache folder is named by the code that writes it: a changed
generator never reuses a stale build, an unrelated change does not force a rebuild."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toolprm_tasks.rebuild import build

TOP = Path(build.__file__).resolve().parents[2]  # the folder holding toolprm_tasks/ and scorers/


def _fingerprint_of(tree: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(build, "__file__", str(tree / "toolprm_tasks" / "rebuild" / "build.py"))
    return build.code_fingerprint()


def test_the_cache_folder_follows_the_code_that_writes_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tree = tmp_path / "site"
    for package in ("toolprm_tasks", "scorers"):
        shutil.copytree(TOP / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    original = _fingerprint_of(tree, monkeypatch)
    assert original == _fingerprint_of(tree, monkeypatch)  # deterministic
    unrelated = tree / "toolprm_tasks" / "cli" / "__init__.py"
    unrelated.write_text(unrelated.read_text() + "\n# unrelated\n")
    assert _fingerprint_of(tree, monkeypatch) == original
    for module in ("toolprm_tasks/rebuild/operators.py", "toolprm_tasks/rebuild/replies.py",
                   "toolprm_tasks/core/render.py", "toolprm_tasks/audit.py", "toolprm_tasks/envs/bfcl.py",
                   "scorers/answers.py"):
        edited = tree / module
        before = edited.read_bytes()
        edited.write_bytes(before + b"\n# a change to what a build writes\n")
        assert _fingerprint_of(tree, monkeypatch) != original, module
        edited.write_bytes(before)
    assert _fingerprint_of(tree, monkeypatch) == original


def test_the_default_folder_names_version_code_and_seed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from toolprm_tasks.data import default_rebuilt_dir

    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path))
    name = default_rebuilt_dir(seed=3).name
    assert name == f"rebuilt-v{build.BUILD_VERSION}-{build.code_fingerprint()}-seed3"
