"""Our server is stopped on every way its parent can end and only it is ever talked to: the
lifecycle through the real launcher, exit hooks and client, with a stand-in for vLLM's entry
point (`tests/fake_vllm_server.py`: it binds, spawns an "engine core" child, guards /v1 with
its key). The same with the real vLLM server: tests/test_vllm_server_lifecycle.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.lifecycle import (
    gone_within,
    kill_group,
    port_open,
    process_tree,
    read_until,
    rest_of_output,
    spawn_parent,
    start_parent,
    still_running,
    wait_ready,
)
from toolprm_tasks.engines import vllm_server
from toolprm_tasks.engines.base import EngineError
from toolprm_tasks.engines.server_launcher import group_members
from toolprm_tasks.engines.vllm_server import VLLMServer, _get

FAKE = "tests.fake_vllm_server"
MODEL = "fake-model"
BOUND = 30.0  # seconds: the group and port must be gone by then (it takes about one)


ENDINGS = {  # how the parent ends: (END mode, signal sent, its exit status, a worker ignores SIGTERM)
    "normal exit": ("exit", None, 0, False),
    "exception": ("raise", None, 1, False),
    "SIGINT": ("wait", signal.SIGINT, -signal.SIGINT, False),  # KeyboardInterrupt: Python ends by the signal
    "SIGTERM": ("wait", signal.SIGTERM, -signal.SIGTERM, True),  # still ends by SIGTERM
    "SIGHUP": ("wait", signal.SIGHUP, -signal.SIGHUP, False),
    "SIGKILL": ("wait", signal.SIGKILL, -signal.SIGKILL, True),  # no handler runs: the launcher's watchdog
    "framework handler": ("framework", signal.SIGTERM, 3, False),  # chained to; it decides
    "started off the main thread": ("thread", signal.SIGTERM, -signal.SIGTERM, False),  # no handler there
}


@pytest.fixture(scope="module")
def parents() -> Iterator[dict[str, tuple[subprocess.Popen[str], dict]]]:
    """One parent per way of ending, all started at once (each start is mostly waiting)."""
    procs = {name: spawn_parent(FAKE, MODEL, end, env={"FAKE_VLLM_STUBBORN_CHILD": "1", "STOP_TIMEOUT": "1"}
                                if stubborn else None)
             for name, (end, _, _, stubborn) in ENDINGS.items()}
    ready = {name: (proc, wait_ready(proc)) for name, proc in procs.items()}
    yield ready
    for proc, info in ready.values():
        proc.kill()
        kill_group(info["pid"], info["log"])


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_the_server_stops_however_the_parent_ends(ending: str, parents: dict) -> None:
    end, sig, expected_rc, _ = ENDINGS[ending]
    parent, info = parents[ending]
    pgid, port = info["pid"], info["port"]
    # READY: the server proved it is ours; `exit` and `raise` end the parent right after
    tree = process_tree(pgid)
    if sig is not None:
        # the server and its "engine core" run (off the main thread too, although the thread
        # that started them has ended: no parent-death signal is tied to that thread)
        assert len(group_members(pgid)) >= 2 and len(tree) >= 2 and port_open(port)
        parent.send_signal(sig)
    assert parent.wait(timeout=BOUND) == expected_rc
    assert gone_within(pgid, port, BOUND), f"left running: {group_members(pgid)}, port open: {port_open(port)}"
    assert not still_running(tree)  # nothing the server started escaped its group either
    assert not Path(info["log"]).exists()  # the log file went with it
    if end == "framework":
        assert "FRAMEWORK" in rest_of_output(parent)


def test_an_ignored_sighup_keeps_the_server() -> None:
    """Under nohup the parent does not end by SIGHUP: neither does its server."""
    parent, info = start_parent(FAKE, MODEL, "nohup")
    pgid, port = info["pid"], info["port"]
    try:
        parent.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert parent.poll() is None and port_open(port) and group_members(pgid)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=BOUND) == -signal.SIGTERM
        assert gone_within(pgid, port, BOUND)
    finally:
        parent.kill()
        kill_group(pgid, info["log"])


def test_a_forked_worker_ending_never_stops_the_server() -> None:
    """A worker forked by the run (a pool's) inherits the signal handlers and `atexit` list:
    ended by SIGTERM, or exiting normally, it must not stop its parent's server."""
    parent, info = start_parent(FAKE, MODEL, "fork")
    pgid, port = info["pid"], info["port"]
    try:
        _, children = read_until(parent, "FORKED")
        statuses = dict(line.split()[1:] for line in children if line.startswith("CHILD "))
        assert statuses == {"sigterm": str(signal.SIGTERM), "exit": "0"}  # ended by SIGTERM; exit 0
        assert len(group_members(pgid)) >= 2 and port_open(port)
        assert _get(f"http://127.0.0.1:{port}/v1/models", None)[0] == 401  # our server still answers
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=BOUND) == -signal.SIGTERM
        assert gone_within(pgid, port, BOUND)
    finally:
        parent.kill()
        kill_group(pgid, info["log"])


class _Foreign(BaseHTTPRequestHandler):
    """A process that is not our server: it answers everything with 200 and our model's name."""

    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _answer(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        body = json.dumps({"data": [{"id": MODEL}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names


@pytest.fixture
def foreign_port() -> Iterator[int]:
    _Foreign.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher imports the stand-in from this checkout."""
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))


def test_a_foreign_process_on_the_port_is_never_talked_to(foreign_port: int, fake_on_path: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A port race: another process listens on the port chosen for our server (and would
    answer /health). It is found out at start-up, our server starts on another port, and the
    foreign process sees identity probes only."""
    ports = iter([foreign_port])
    monkeypatch.setattr(vllm_server, "_free_port", lambda: next(ports, None) or _any_free_port())
    server = VLLMServer(MODEL, [], entry_point=FAKE, stop_timeout=2)
    try:
        assert server.port != foreign_port and server.port_races == 1
        assert server.identity() == "ours"
        assert _get(f"{server.base_url}/v1/models", server.api_key)[0] == 200
        assert _get(f"{server.base_url}/v1/models", "a-wrong-key")[0] == 401  # our server refuses a wrong key
        assert _get(f"{server.base_url}/v1/models", None)[0] == 401
        assert _Foreign.requests and all(r == "GET /v1/models" for r in _Foreign.requests)
    finally:
        server.close()
    assert not server.alive_in_group() and not port_open(server.port)


def test_close_lets_the_server_stop_its_engine_core(fake_on_path: None) -> None:
    """Found by a newcomer: runs ended with "engine core exited unexpectedly". SIGTERM to the
    whole group let the core die before its server began shutting down; now the server alone
    is signalled and stops its core (the stand-in's core tells who signalled it)."""
    server = VLLMServer(MODEL, [], entry_point=FAKE, stop_timeout=5)
    server.close()
    assert not server.alive_in_group() and not port_open(server.port)
    assert "fake vLLM server: engine core stopped" in server._tail
    assert "exited unexpectedly" not in server._tail, server._tail


def test_a_silent_listener_on_the_port_is_detected(fake_on_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that holds the port but never answers: our server dies binding it ("Address
    already in use"); that is told apart from a crash and another port is tried."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        ports = iter([int(silent.getsockname()[1])])
        monkeypatch.setattr(vllm_server, "_free_port", lambda: next(ports, None) or _any_free_port())
        server = VLLMServer(MODEL, [], entry_point=FAKE, stop_timeout=2)
        try:
            assert server.port_races == 1 and server.identity() == "ours"
        finally:
            server.close()


def test_a_port_taken_on_every_attempt_is_an_error(foreign_port: int, fake_on_path: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_server, "_free_port", lambda: foreign_port)
    with pytest.raises(EngineError, match=f"{MODEL}: the vLLM server could not get a port of its own in 3 attempts"):
        VLLMServer(MODEL, [], entry_point=FAKE, stop_timeout=2)
    assert all(r == "GET /v1/models" for r in _Foreign.requests)


def test_another_vllm_server_with_its_own_key_is_foreign(fake_on_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another user's vLLM server on the port (same model, its own key) is not ours either;
    and once our server has died, the client refuses to send, whoever holds the port now."""
    other = VLLMServer(MODEL, [], entry_point=FAKE, stop_timeout=2)
    try:
        ports = iter([other.port])
        monkeypatch.setattr(vllm_server, "_free_port", lambda: next(ports, None) or _any_free_port())
        ours = VLLMServer(MODEL, [], entry_point=FAKE, stop_timeout=2)
        try:
            assert ours.port != other.port and ours.port_races == 1 and ours.api_key != other.api_key
            ours.process.kill()
            ours.process.wait()
            with pytest.raises(EngineError, match=f"{MODEL}: the vLLM server exited with code -9"):
                ours.check_alive()
        finally:
            ours.close()
        assert not ours.alive_in_group()
    finally:
        other.close()


def _any_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_client_sends_the_key_of_a_server_you_run(fake_on_path: None, tiny_classifier: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`base_url=` a server started with an API key: the client sends VLLM_API_KEY; without
    it the server's refusal stops the run with a clear error."""
    from tests.fake_vllm_server import fake_score
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.vllm_server import VLLMServerEngine

    yours = VLLMServer(str(tiny_classifier), [], entry_point=FAKE, stop_timeout=2)  # "yours": it has a key
    try:
        request = ScoreRequest([{"role": "user", "content": "List my files."}], [], {"name": "ls", "arguments": {}})
        monkeypatch.delenv("VLLM_API_KEY", raising=False)
        client = VLLMServerEngine(str(tiny_classifier), "classifier", base_url=yours.base_url)
        with pytest.raises(EngineError, match=f"{tiny_classifier}: the vLLM server answered 401 on /classify"):
            client.score([request])
        monkeypatch.setenv("VLLM_API_KEY", yours.api_key)
        client = VLLMServerEngine(str(tiny_classifier), "classifier", base_url=yours.base_url)
        ids = client.tokenizer.encode(client.prompt_for(request)[0], add_special_tokens=False)
        assert client.score([request]) == [fake_score(ids)]
    finally:
        yours.close()


def test_the_key_of_a_server_you_run_reaches_the_client(tiny_classifier: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`api_key=` (lm-eval model args) and Inspect's `--model-api-key` give the client the key of
    a server you started; without either, $VLLM_API_KEY; no server is started for a base_url."""
    from toolprm_tasks.engines.factory import make_engine
    from toolprm_tasks.inspect_prm import VLLMPRMAPI

    monkeypatch.setenv("VLLM_API_KEY", "from-the-environment")
    options = {"kind": "classifier", "base_url": "http://127.0.0.1:9"}
    assert make_engine("vllm", str(tiny_classifier), {**options, "api_key": "given"}).api_key == "given"
    assert make_engine("vllm", str(tiny_classifier), options).api_key == "from-the-environment"
    api = VLLMPRMAPI(str(tiny_classifier), base_url="http://127.0.0.1:9", api_key="inspect-key", kind="classifier")
    assert api.engine.api_key == "inspect-key" and api.engine.server is None
