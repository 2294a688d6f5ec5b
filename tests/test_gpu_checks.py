"""benchmarks/gpu_checks.py without a GPU: the dry run lists every step with its commands, and a
real run on a machine without a GPU stops at once with a clear message (nothing installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_checks.py"
sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_checks  # noqa: E402


def _run(*args: str, path: str | None = None, out: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path if path is not None else "/usr/bin:/bin", **({"OUT": str(out)} if out else {})}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def test_dry_run_lists_every_step_and_its_commands(tmp_path: Path) -> None:
    proc = _run("--dry-run", out=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    headings = [line.split(":")[0] for line in lines if not line.startswith(" ") and not line.startswith("results")]
    assert headings == [step.name for step in gpu_checks.STEPS]
    checks = gpu_checks.Checks(tmp_path, REPO / ".venv", None, True)
    for step in gpu_checks.STEPS:
        assert checks.commands(step.name), step.name  # every step does something
        for command in checks.commands(step.name):
            assert "    " + " ".join(command) in lines
    text = proc.stdout
    for needle in ("make install-gpu", "-m vllm", "tests/test_vllm_api.py", "prm_throughput/run.py --out",
                   "--real-model", "real_model_figures.py --per-subset 0", "model smollm2"):
        assert needle in text, needle
    total = sum(step.minutes for step in gpu_checks.STEPS)
    assert lines[-1] == f"results: {tmp_path}; estimated {total:g} min in all"  # $OUT is the output folder
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def test_dry_run_of_chosen_steps_and_unknown_steps(tmp_path: Path) -> None:
    proc = _run("--dry-run", "--steps", "real-model,engine-tests", "--out", str(tmp_path))
    assert [line.split(":")[0] for line in proc.stdout.splitlines() if not line.startswith((" ", "results"))] == [
        "engine-tests", "real-model"]  # in the script's order
    bad = _run("--dry-run", "--steps", "engine-test")
    assert bad.returncode == 2 and "unknown steps ['engine-test']" in bad.stderr


@pytest.mark.parametrize("path", ["", "FAKE"])
def test_without_a_gpu_it_stops_at_once(tmp_path: Path, path: str) -> None:
    """No nvidia-smi at all, or one that lists no GPU: exit 3, the reason, nothing installed."""
    if path == "FAKE":
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "nvidia-smi").write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 6\n")
        (fake / "nvidia-smi").chmod(0o755)
        path = f"{fake}:/usr/bin:/bin"
    out = tmp_path / "out"
    proc = _run("--out", str(out), "--venv", str(tmp_path / "venv"), path=path)
    assert proc.returncode == gpu_checks.NO_GPU, proc.stderr
    assert "no GPU on this machine" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["steps"]) == ["preflight"] and summary["steps"]["preflight"]["status"] == "failed"
    assert not (tmp_path / "venv").exists()
