"""`toolprmbench model smollm2` stopped midway: SIGTERM, SIGHUP and SIGINT remove the partial
folder (about 520 MB) before the process ends by the signal; one killed outright (SIGKILL)
leaves it, and the next run removes it, never the folder of a conversion still running."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolprm_tasks import real_model

CHILD = Path(__file__).resolve().parent / "conversion_child.py"
REPO = CHILD.parents[1]


def _partials(models: Path) -> list[Path]:
    return sorted(p for p in models.iterdir() if p.name.startswith(real_model.PARTIAL_PREFIX)) if models.is_dir() else []


def _start(models: Path, gguf: Path) -> tuple[subprocess.Popen[str], Path]:
    """A converting child process and its partial folder (once it has written into it)."""
    proc = subprocess.Popen([sys.executable, str(CHILD), str(gguf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO),
                                                      "TOOLPRMBENCH_MODEL_DIR": str(models)})
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the child converts (or ends)
    if not line.startswith("CONVERTING "):
        proc.kill()
        raise AssertionError(f"the child did not start converting: {line!r} {proc.communicate()[1][-3000:]}")
    folder = Path(line.split(" ", 1)[1].strip())
    if not (folder.is_dir() and folder.parent == models and str(proc.pid) in folder.name):
        proc.kill()
        raise AssertionError(f"{folder}: not a partial folder of the child's in {models} (pid {proc.pid})")
    return proc, folder


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "stand-in.gguf"
    path.write_bytes(b"GGUF stand-in")
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_during_the_conversion_removes_the_partial_folder(tmp_path: Path, gguf: Path, sig: int) -> None:
    models = tmp_path / "models"
    proc, folder = _start(models, gguf)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == -sig  # it still ends by the signal
    assert not folder.exists() and _partials(models) == []
    assert not (models / real_model.FOLDER_NAME).exists()  # nothing half-made took the final name


def test_a_killed_conversions_folder_is_removed_later_but_never_a_live_one(tmp_path: Path, gguf: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    killed, stale = _start(models, gguf)
    killed.kill()  # SIGKILL: no handler runs, the partial folder stays
    assert killed.wait(timeout=60) == -signal.SIGKILL and stale.is_dir()
    live, running = _start(models, gguf)
    try:
        # older versions' names: no lock file; a dead writer's pid, and no pid (untouched for long)
        dead_pid = killed.pid
        orphan = models / f"{real_model.PARTIAL_PREFIX}{dead_pid}-abc"
        orphan.mkdir()
        legacy = models / f"{real_model.PARTIAL_PREFIX}k3j2h1g0"
        legacy.mkdir()
        old = time.time() - real_model.LEGACY_STALE_S - 60
        os.utime(legacy, (old, old))
        recent = models / f"{real_model.PARTIAL_PREFIX}z9y8x7w6"  # a legacy name changed just now: kept
        recent.mkdir()
        someone_elses = models / ".partial"  # not our prefix
        someone_elses.mkdir()
        monkeypatch.setenv("TOOLPRMBENCH_MODEL_DIR", str(models))

        def convert(source: Path, target: Path) -> dict:
            (target / "config.json").write_text("{}", encoding="utf-8")
            return {"max_abs_logit_diff": 0.0, "tolerance": real_model.LOGIT_TOLERANCE, "same_token_ids": True}

        monkeypatch.setattr(real_model, "_require_gguf_reader", lambda: None)
        monkeypatch.setattr(real_model, "verified_gguf", lambda: gguf)
        monkeypatch.setattr(real_model, "_convert", convert)
        folder = real_model.ensure_model()  # a later run: converts, and removes what is stale
        assert real_model.check_folder(folder)["files"] == {"config.json": hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()}
        assert not stale.exists() and not orphan.exists() and not legacy.exists()
        assert running.is_dir() and (running / "model.safetensors").is_file()  # its writer lives
        assert recent.is_dir() and someone_elses.is_dir()
    finally:
        live.terminate()
        live.wait(timeout=60)
    assert not running.exists()
