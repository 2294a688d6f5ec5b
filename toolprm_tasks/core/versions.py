"""The task version (one scheme for lm-eval and Inspect) and the package version.

Task versions follow inspect_evals' `N-X`: the number changes when results stop being
comparable with earlier ones (a scoring or data change that moves a number), the letter when
the task's interface changes but its numbers do not. lm-eval's task YAMLs carry the same
string as `metadata.version` (tests/test_names.py checks every YAML). Every change is dated in
CHANGELOG.md.
"""

from __future__ import annotations

TASK_VERSION = "2-A"

# Every task version published, oldest first (lm-eval results before 2-A carry `1.0`, which
# is 1-A): readers of old results accept these and refuse others.
TASK_VERSIONS: dict[str, str] = {
    "1-A": "2026-11-24: first release (lm-eval YAML `version: 1.0`)",
    "2-A": "2026-11-26: stricter answer parser; combined-task rates are unweighted means over subsets",
}
LM_EVAL_LEGACY_VERSIONS: dict[str, str] = {"1.0": "1-A"}

# The search task (`toolprm_search`) measures something else and has versions of its own.
SEARCH_VERSION = "1-A"
SEARCH_VERSIONS: dict[str, str] = {"1-A": "2026-11-26: first release"}


def package_version() -> str:
    """This package's version, from its installed metadata (pyproject.toml is the source)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("toolprm-tasks")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown (not installed)"
