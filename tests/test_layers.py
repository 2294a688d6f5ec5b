"""The floor plan, checked from the source: dependencies point one way and no import circles.

Read with `ast` (nothing is imported), so a violation is found whatever a test run happens to
import; every import counts, also those inside functions (kept there only where a heavy
optional dependency needs laziness).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("inspect_ai", "lm_eval", "vllm", "transformers", "torch", "trl")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in ("toolprm_tasks", "scorers") for p in (ROOT / top).rglob("*.py")}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _internal(names: set[str], modules: dict[str, Path]) -> set[str]:
    return {name for name in names if name in modules}


def test_scorers_import_only_the_standard_library_and_themselves() -> None:
    modules = _modules()
    for name, path in modules.items():
        if not name.startswith("scorers"):
            continue
        for imported in _imports(path, top_level_only=False):
            top = imported.split(".")[0]
            assert top != "toolprm_tasks" and top not in FRAMEWORKS, f"{name} imports {imported}"


@pytest.mark.parametrize("layer", ["toolprm_tasks.core", "toolprm_tasks.data", "toolprm_tasks.envs"])
def test_the_core_never_imports_a_framework_or_an_adapter(layer: str) -> None:
    modules = _modules()
    forbidden = ("toolprm_tasks.inspect_adapter", "toolprm_tasks.lm_eval_adapter", "toolprm_tasks.cli")
    for name, path in modules.items():
        if name != layer and not name.startswith(layer + "."):
            continue
        for imported in _imports(path, top_level_only=False):
            assert imported.split(".")[0] not in ("inspect_ai", "lm_eval"), f"{name} imports {imported}"
            assert not imported.startswith(forbidden), f"{name} imports {imported}"


def test_no_import_circle() -> None:
    """No circle, counting imports inside functions too (they once hid two circles)."""
    modules = _modules()
    graph = {name: _internal(_imports(path, top_level_only=False), modules) - {name} for name, path in modules.items()}
    # a package's __init__ importing its own submodules is how packages work, not a circle
    for name in graph:
        graph[name] = {dep for dep in graph[name] if not dep.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_layer_check_finds_a_planted_violation(tmp_path: Path) -> None:
    """The reader above sees an import hidden in a function (the scorers rule reads them all)."""
    planted = tmp_path / "x.py"
    planted.write_text("def f():\n    from toolprm_tasks.core import cases\n", encoding="utf-8")
    assert "toolprm_tasks.core" in _imports(planted, top_level_only=False)
    assert "toolprm_tasks.core" not in _imports(planted, top_level_only=True)


@pytest.mark.parametrize("entry", ["bfcl", "gta", "tooltalk", "toolsandbox", "toolprmbench"])
def test_inspect_entry_files_are_a_few_lines(entry: str) -> None:
    """The documented `inspect eval toolprm_tasks/<subset>.py` files hold a task's signature only."""
    lines = (ROOT / "toolprm_tasks" / f"{entry}.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 15, f"toolprm_tasks/{entry}.py has {len(lines)} lines"


# Imports inside functions: only of a heavy or optional package, or marked `# lazy: <reason>`.
HEAVY = frozenset({"torch", "transformers", "vllm", "trl", "accelerate", "datasets", "tokenizers", "safetensors",
                   "gguf", "matplotlib", "numpy", "scipy", "sklearn", "inspect_ai", "lm_eval"})
LAZY_MARK = "# lazy:"
# Modules whose bytes name a build (`rebuild.build._CODE_MODULES`: the manifest's `code` digest):
# a comment there changes every build's manifest, so their lazy imports are listed here instead.
BUILD_CODE_LAZY = {  # not yet reviewed for a move: moving one changes every build's `code` digest
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.rebuild.bfcl_points"),
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.rebuild.online"),
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.envs.bfcl"),
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.rebuild.tooltalk"),
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.rebuild.gta"),
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.audit"),
    ("toolprm_tasks/rebuild/build.py", "toolprm_tasks.model_check"),
    ("toolprm_tasks/rebuild/models.py", "rich.text"),
    ("toolprm_tasks/rebuild/operators.py", "toolprm_tasks.rebuild.difficulty"),
    ("toolprm_tasks/envs/bfcl.py", "toolprm_tasks.data.jsonio"),
    ("toolprm_tasks/audit.py", "toolprm_tasks.core.baselines"),
    ("toolprm_tasks/audit.py", "toolprm_tasks.core.trials"),
    ("toolprm_tasks/audit.py", "toolprm_tasks.core.cases"),
    ("toolprm_tasks/model_check.py", "toolprm_tasks"),
    ("toolprm_tasks/model_check.py", "toolprm_tasks.engines.base"),
    ("toolprm_tasks/model_check.py", "toolprm_tasks.engines.factory"),
    ("toolprm_tasks/model_check.py", "toolprm_tasks.core.cases"),
}


def _unmarked_function_imports(path: Path) -> set[str]:
    """`file:line module` of each import inside a function that is neither of a HEAVY package
    nor marked `# lazy:` on its lines or in a comment line right above (nor listed in BUILD_CODE_LAZY)."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    found: set[str] = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [("." * node.level) + (node.module or "")]
            else:
                continue
            if all(m.split(".")[0] in HEAVY for m in modules):
                continue
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            own = lines[node.lineno - 1:node.end_lineno]
            if any(LAZY_MARK in line for line in own) or (above.startswith("#") and LAZY_MARK in above):
                continue
            if all((where, m) in BUILD_CODE_LAZY for m in modules):
                continue
            found.update(f"{where}:{node.lineno} {m}" for m in modules)
    return found


def test_imports_inside_functions_are_heavy_or_say_why() -> None:
    """An import hides in a function only for a heavy optional package or with `# lazy: <reason>`
    (an import circle it avoids, or a cost the importing layer must not pay)."""
    unmarked = set().union(*(_unmarked_function_imports(p) for p in _modules().values()))
    assert not unmarked, "move to the top, or mark `# lazy: <reason>`:\n" + "\n".join(sorted(unmarked))


def test_the_lazy_import_check_finds_a_planted_violation(tmp_path: Path) -> None:
    planted = tmp_path / "x.py"
    planted.write_text("def f():\n    import json\n    import torch\n\n\n"
                       "def g():\n    # lazy: a reason\n    from toolprm_tasks.core import cases\n"
                       "    from toolprm_tasks.core import names  # lazy: another\n"
                       "    from toolprm_tasks.core import render\n", encoding="utf-8")
    assert _unmarked_function_imports(planted) == {"x.py:2 json", "x.py:10 toolprm_tasks.core"}


@pytest.mark.parametrize("module", ["toolprm_tasks", "toolprm_tasks.core.cases", "toolprm_tasks.data", "scorers",
                                    "toolprm_tasks.envs.bfcl"])
def test_importing_the_core_loads_no_framework(module: str) -> None:
    """Imports moved to the top must not make the core pull a framework or torch (checked in a
    fresh interpreter: what `import` really loads, whatever this test run imported before)."""
    probe = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    run = subprocess.run([sys.executable, "-c", probe, module], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    loaded = set(json.loads(run.stdout.strip().splitlines()[-1]))
    assert not loaded & HEAVY, f"import {module} loads {sorted(loaded & HEAVY)}"


# The pins are the one table a test replaces (`monkeypatch.setattr(pins, "PINNED_FILES", ...)`):
# a module that copied the name at import time would keep reading the old table, silently.
PIN_TABLES = ("PINNED_FILES", "PINNED_TRAIN_FILES")
PIN_OWNERS = ("toolprm_tasks.data.pins", "toolprm_tasks.data")


def _copies_of_pin_tables(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in PIN_OWNERS:
            found += [f"{path.name}:{node.lineno} {alias.name}" for alias in node.names if alias.name in PIN_TABLES]
    return found


def test_pins_are_read_from_their_module_at_call_time() -> None:
    owners = {ROOT / "toolprm_tasks" / "data" / "__init__.py"}  # the package's re-export: the same dict
    copies = [c for name, path in _modules().items() if path not in owners for c in _copies_of_pin_tables(path)]
    copies += [c for path in (ROOT / "benchmarks").glob("*.py") for c in _copies_of_pin_tables(path)]
    assert not copies, f"read `pins.PINNED_FILES` at call time instead of copying the name: {copies}"


def test_the_pin_check_finds_a_planted_copy(tmp_path: Path) -> None:
    planted = tmp_path / "m.py"
    planted.write_text("from toolprm_tasks.data import PINNED_FILES\n", encoding="utf-8")
    assert _copies_of_pin_tables(planted) == ["m.py:1 PINNED_FILES"]
