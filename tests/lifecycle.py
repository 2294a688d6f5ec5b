"""Helpers for the server lifecycle tests: a parent process that starts our server, and
checks that the server's process group and port are gone."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolprm_tasks.engines.server_launcher import group_members

REPO = Path(__file__).resolve().parents[1]


def spawn_parent(entry_point: str, model: str, end: str, *flags: str, env: dict[str, str] | None = None,
                 inherit_ignored: tuple[int, ...] = ()) -> subprocess.Popen[str]:
    """`tests/server_parent.py` as a process of its own (see its notes for `end`).
    `inherit_ignored`: signals it inherits as ignored, as under `nohup` or a CI runner that
    ignores them (whatever this test process's own dispositions are)."""

    def ignore() -> None:
        for signum in inherit_ignored:
            signal.signal(signum, signal.SIG_IGN)

    return subprocess.Popen([sys.executable, str(REPO / "tests" / "server_parent.py"), entry_point, model, end, *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                            preexec_fn=ignore if inherit_ignored else None)


def _line_queue(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The parent's output lines, read by a thread of their own (None at end of output).
    select() on the pipe with buffered readline() loses lines that arrive together: a line
    already in Python's buffer does not make the pipe readable again."""
    lines: queue.Queue[str | None] | None = getattr(proc, "_toolprm_lines", None)
    if lines is None:
        lines = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)  # type: ignore[union-attr]
            lines.put(None)  # type: ignore[union-attr]

        threading.Thread(target=pump, daemon=True).start()
        proc._toolprm_lines = lines  # type: ignore[attr-defined]
    return lines


def _lines_within(proc: subprocess.Popen[str], timeout: float) -> Iterator[str]:
    """The parent's next output lines, until its output ends or `timeout` seconds pass."""
    lines = _line_queue(proc)
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            return
        if line is None:
            return
        yield line


def read_until(proc: subprocess.Popen[str], prefix: str, timeout: float = 120.0) -> tuple[str, list[str]]:
    """The parent's first output line starting with `prefix` (its text after the prefix), and
    the lines before it."""
    seen: list[str] = []
    for line in _lines_within(proc, timeout):
        if line.startswith(prefix):
            return line[len(prefix):].strip(), seen
        seen.append(line)
    proc.kill()
    raise AssertionError(f"the parent printed no {prefix!r} (exit {proc.poll()}):\n{''.join(seen)[-4000:]}")


def rest_of_output(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """What the parent printed after the lines read so far, up to the end of its output."""
    return "".join(_lines_within(proc, timeout))


def wait_ready(proc: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    """The parent's READY record, printed once its server has proved it is ours."""
    return json.loads(read_until(proc, "READY ", timeout)[0])


def start_parent(entry_point: str, model: str, end: str, *flags: str, env: dict[str, str] | None = None,
                 timeout: float = 120.0) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = spawn_parent(entry_point, model, end, *flags, env=env)
    return proc, wait_ready(proc, timeout)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gone_within(pgid: int, port: int, seconds: float) -> bool:
    """Whether, within `seconds`, no live process of the group is left and nothing listens on
    the port (a liveness bound, not a speed claim)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_members(pgid) and not port_open(port):
            return True
        time.sleep(0.1)
    return False


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, pgrp, ...); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def process_tree(root: int) -> set[tuple[int, str]]:
    """The live processes descended from `root` (itself included), as (pid, start time): a pid
    reused later by an unrelated process does not count as the same process."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            starts[int(entry.name)] = fields[19]
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in starts:
            tree.add((pid, starts[pid]))
        todo += children.get(pid, [])
    return tree


def still_running(tree: set[tuple[int, str]]) -> list[int]:
    """Those of `tree` still running (zombies excluded)."""
    return [pid for pid, start in tree if (fields := _stat(pid)) and fields[0] != "Z" and fields[19] == start]


def kill_group(pgid: int, log: str | None = None) -> None:
    """After a failed check: leave nothing running, and no log file behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if log:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log)
