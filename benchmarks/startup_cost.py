"""Start-up cost of the lm-eval discovery hook, for plain `python` and for lm-eval.

- python: `python -c pass` with the hook active vs. switched off (TOOLPRM_TASKS_NO_LM_EVAL_HOOK=1;
  the .pth still imports the hook module then, so `-X importtime` also reports what importing
  the module itself costs);
- lm-eval: what the hook adds to building lm-eval's TaskManager (what every `lm_eval --tasks`
  run does first): indexing our task folder, timed in-process (median of many builds with
  lm-eval's own folder left out, hook on vs. off), and for context the whole TaskManager()
  build, hook on vs. off, as separate processes (about 5 s here, so noise of tens of ms).
Runs are interleaved and repeated; medians are reported. Goal: < 20 ms added.
Writes benchmarks/out/startup_cost.json.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFF = {"TOOLPRM_TASKS_NO_LM_EVAL_HOOK": "1"}


def _run(cmd: list[str], env_extra: dict[str, str]) -> float:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **env_extra}
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _compare(name: str, on_cmd: list[str], off_cmd: list[str], repeats: int) -> dict[str, float]:
    on, off = [], []
    _run(on_cmd, {}), _run(off_cmd, OFF)  # warm the file cache
    for _ in range(repeats):
        on.append(_run(on_cmd, {}))
        off.append(_run(off_cmd, OFF))
    on_ms, off_ms = statistics.median(on) * 1000, statistics.median(off) * 1000
    return {"hook_on_ms": on_ms, "hook_off_ms": off_ms, "added_ms": on_ms - off_ms, "ratio": on_ms / off_ms,
            "repeats": repeats}


def _hook_import_ms() -> float:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True,
                          env={**os.environ, **OFF})
    total = 0
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if match and match.group(3) in ("toolprm_tasks", "toolprm_tasks._lm_eval_hook"):
            total += int(match.group(1))  # self time, microseconds
    return total / 1000


_IN_PROCESS = """
import statistics, time
from lm_eval.tasks import TaskManager
times = []
for _ in range(25):
    start = time.perf_counter()
    manager = TaskManager(include_defaults=False)
    times.append(time.perf_counter() - start)
print(statistics.median(times) * 1000, len(manager.all_tasks))
"""


def _task_index_added_ms() -> dict[str, float]:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1"}
    on = subprocess.run([sys.executable, "-c", _IN_PROCESS], env=env, capture_output=True, text=True, check=True)
    off = subprocess.run([sys.executable, "-c", _IN_PROCESS], env={**env, **OFF}, capture_output=True, text=True,
                         check=True)
    (on_ms, on_tasks), (off_ms, off_tasks) = (map(float, p.stdout.split()) for p in (on, off))
    return {"hook_on_ms": on_ms, "hook_off_ms": off_ms, "added_ms": on_ms - off_ms,
            "tasks_found_on": int(on_tasks), "tasks_found_off": int(off_tasks)}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from benchmarks._common import machine, write_result

    py = sys.executable
    tm = [py, "-c", "from lm_eval.tasks import TaskManager; TaskManager()"]
    result = {
        "benchmark": "startup_cost",
        "machine": machine(),
        # both sides import the hook module (the .pth does); the switch only skips installing the finder
        "python_pass": _compare("python", [py, "-c", "pass"], [py, "-c", "pass"], repeats=30),
        "hook_module_import_ms": _hook_import_ms(),
        "lm_eval_our_task_index": _task_index_added_ms(),
        "lm_eval_task_manager_whole": _compare("task manager", tm, tm, repeats=5),
        "goal_added_ms": 20.0,
    }
    write_result("startup_cost", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
