"""The wheel ships what discovery needs: the .pth hook at its root, the task YAMLs inside the
package, both top-level packages, and the entry points for Inspect and later lm-eval releases."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True)
    (path,) = out.glob("toolprm_tasks-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_layout(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert wheel.read("toolprm_tasks_lm_eval.pth").decode().strip() == "import toolprm_tasks._lm_eval_hook"
    yamls = {Path(n).name for n in names if n.startswith("toolprm_tasks/task_yaml/")}
    expected = {f"toolprmbench_{s}{v}.yaml" for s in ("gta", "tooltalk", "bfcl", "toolsandbox")
                for v in ("", "_pairwise_ll", "_pointwise")}
    assert expected | {"utils.py", "toolprmbench.yaml", "_template_generative_yaml"} <= yamls
    assert {"scorers/core.py", "toolprm_tasks/lm_eval_adapter/scoring.py", "toolprm_tasks/gta.py", "toolprm_tasks/eval.yaml"} <= names
    assert not any(n.startswith(("tests/", "benchmarks/", "task_yaml/")) for n in names)
    # the license its metadata states, as a file (PEP 639; there was none)
    (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert "Apache License" in wheel.read(license_file).decode()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = wheel.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in meta and "License-File: LICENSE" in meta
    assert "Requires-Python: >=3.11" in meta  # inspect-ai 0.3.285 needs it: 3.10 could not install


def test_sdist_ships_the_docs_its_messages_cite(tmp_path: Path) -> None:
    import tarfile

    subprocess.run([sys.executable, "-c", "import hatchling.build as b, sys; b.build_sdist(sys.argv[1])", str(tmp_path)],
                   check=True, capture_output=True, cwd=REPO)
    (path,) = tmp_path.glob("toolprm_tasks-*.tar.gz")
    with tarfile.open(path) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "docs/data.md", "docs/engines.md", "docs/training.md",
            "toolprm_tasks/gta.py", "task_yaml/toolprmbench.yaml"} <= names


def _package_references(wheel: zipfile.ZipFile) -> set[str]:
    """Every module name the shipped code names: imports (relative ones resolved), dotted names
    in strings (entry-point tables such as `names.py`'s, lazy imports), the entry points and the
    .pth hook, with the packages above each."""
    found: set[str] = set()
    dotted = re.compile(r"(?:toolprm_tasks|scorers)(?:\.\w+)*")
    for name in wheel.namelist():
        if not name.endswith(".py"):
            continue
        package = name[:-3].replace("/", ".").removesuffix(".__init__")
        if not name.endswith("__init__.py"):
            package = package.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(wheel.read(name))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(dotted.findall(node.value))
    (meta,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    found.update(dotted.findall(wheel.read(meta).decode()))
    found.update(dotted.findall(wheel.read("toolprm_tasks_lm_eval.pth").decode()))
    # importing a module imports the packages above it
    return {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}


def test_wheel_ships_no_test_only_module(wheel: zipfile.ZipFile) -> None:
    """Every shipped module is used by the package itself (a module only tests or benchmarks
    use lives in tests/ or benchmarks/): found in review, `agent_search/bfcl_crosscheck.py`."""
    modules = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in wheel.namelist()
               if n.endswith(".py") and n.startswith(("toolprm_tasks/", "scorers/"))}
    assert "toolprm_tasks.agent_search" in modules and "scorers.core" in modules
    assert "toolprm_tasks.agent_search.bfcl_crosscheck" not in modules
    unused = {m for m in modules - _package_references(wheel)
              if m not in ("toolprm_tasks", "scorers") and not m.startswith("toolprm_tasks.task_yaml")
              and not m.endswith(".__main__")}  # `python -m` entry points are used by people, not imported
    assert not unused, f"shipped but used by no shipped code: {sorted(unused)}"


def test_wheel_entry_points(wheel: zipfile.ZipFile) -> None:
    (meta,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(meta).decode()
    for line in ("[inspect_ai]", "toolprm_tasks = toolprm_tasks._inspect_registry", "[lm_eval.models]",
                 "toolprm-baseline = toolprm_tasks.lm_eval_adapter.baseline_model:BaselineJudgeLM", "[lm_eval.tasks]",
                 "[lm_eval.metrics]", "toolprmbench = toolprm_tasks.cli:main"):
        assert line in text


def test_this_install_has_the_hook_active() -> None:
    """The environment the tests run in (an editable install) got the .pth too."""
    import site
    import sysconfig

    dirs = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    assert any((Path(d) / "toolprm_tasks_lm_eval.pth").is_file() for d in dirs)
    probe = "import sys; print(any(type(f).__name__ == '_PostImportFinder' for f in sys.meta_path))"
    on = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    off = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={"TOOLPRM_TASKS_NO_LM_EVAL_HOOK": "1", "PATH": ""})
    assert (on.stdout.strip(), off.stdout.strip()) == ("True", "False")


def test_package_versions_and_version_attribute() -> None:
    """One reader of installed versions: a missing distribution says so; `__version__` is the
    installed metadata's (found in review: it imported a module the renovation had moved)."""
    import importlib.metadata

    import toolprm_tasks
    from toolprm_tasks.core.versions import NOT_INSTALLED, package_versions

    assert toolprm_tasks.__version__ == importlib.metadata.version("toolprm-tasks")
    assert package_versions("pytest", "no-such-distribution-toolprm") == {
        "pytest": importlib.metadata.version("pytest"), "no-such-distribution-toolprm": NOT_INSTALLED}
