"""Shared bits of the benchmark scripts: the machine description and the JSON output."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

# where results go: benchmarks/out, or TOOLPRMBENCH_BENCH_OUT (the tests run the scripts there)
OUT = Path(os.environ.get("TOOLPRMBENCH_BENCH_OUT") or Path(__file__).resolve().parent / "out")


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}


def write_result(name: str, result: dict[str, Any], path: Path | None = None) -> Path:
    """Write `benchmarks/out/<name>.json` (or `path`) and print it."""
    path = path or OUT / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))
    return path


# seconds and calls per name, accumulated by the functions `timed` wraps
TIMERS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, adding its wall time to TIMERS[name] and its calls to CALLS[name]."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMERS[name] += time.perf_counter() - start
            CALLS[name] += 1

    wrapper.__name__ = getattr(fn, "__name__", name)
    return wrapper
