"""The benchmark scripts run (their smallest settings) and write their JSON. Found by a probe:
three of them had not run since the code they call was renamed (`make bench` stopped at its
first script); nothing ran them. Their figures are not asserted (speed is measured, never
asserted); what they count is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, out: Path) -> dict:
    env = {**os.environ, "TOOLPRMBENCH_BENCH_OUT": str(out), "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], env=env, cwd=out,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / script.replace(".py", ".json")).read_text(encoding="utf-8"))


def test_search_crosscheck_runs_and_agrees_with_bfcl(tmp_path: Path) -> None:
    result = _run("search_crosscheck.py", "--categories", "base", "--limit", "1", out=tmp_path)
    counts = result["counts"]
    assert counts["turn_verdicts"] > 0 and counts["turn_verdicts_agree"] == counts["turn_verdicts"]
    assert counts["gold:solved_by_us"] == 1 and result["disagreement_count"] == 0  # the gold path solves it


def test_search_overhead_runs(tmp_path: Path) -> None:
    result = _run("search_overhead.py", "--per-category", "1", "--k", "2", "--inspect-limit", "0", out=tmp_path)
    loop = result["loop"]
    assert loop["conversations"] == 4 and loop["k"] == 2 and loop["steps"] > 0  # one of each BFCL category
    assert set(loop["ms_per_step"]) == {"harness", "environment", "policy_replay", "judge_instant"}


@pytest.mark.slow
def test_plugin_overhead_runs_and_both_frameworks_agree(tmp_path: Path) -> None:
    """It ended in an AttributeError after the whole lm-eval pass (a renamed scorer function)."""
    out = tmp_path / "plugin_overhead.json"
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1"}
    env.pop("TOOLPRMBENCH_DATA_DIR", None)  # its synthetic stand-in of the release
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plugin_overhead.py"), "--out", str(out)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["same_avg_in_both"] is True and result["trials"] == result["cases"] > 0
    assert set(result["inspect"]["plugin_ms_per_trial"]) == {"load+render", "parse", "score", "aggregate", "total"}
    assert set(result["lm_eval"]["plugin_ms_per_trial"]) == {"load+render", "parse+score", "aggregate", "total"}
