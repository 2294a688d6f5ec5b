"""Shared bits of the benchmark scripts: the machine description and the JSON output."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}


def write_result(name: str, result: dict[str, Any], path: Path | None = None) -> Path:
    """Write `benchmarks/out/<name>.json` (or `path`) and print it."""
    path = path or OUT / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))
    return path
