"""Where the package's lm-eval task YAMLs live (wheel and source-tree layouts)."""

from __future__ import annotations

from pathlib import Path


def task_yaml_dir() -> Path:
    """The folder of lm-eval task YAMLs: inside the wheel, or `task_yaml/` in a checkout."""
    package_dir = Path(__file__).resolve().parents[1]  # toolprm_tasks/ (this file is in lm_eval_adapter/)
    for candidate in (package_dir / "task_yaml", package_dir.parent / "task_yaml"):
        if (candidate / "utils.py").is_file():
            return candidate
    raise FileNotFoundError(
        f"toolprm-tasks: no task_yaml folder next to {package_dir}; the installation is broken"
    )
