"""A stand-in for vLLM's api_server entry point, for the server lifecycle tests (fast tier).

    python -m tests.fake_vllm_server --model NAME --host 127.0.0.1 --port N [ignored vLLM flags]

What our client relies on, as vLLM does it: it binds the port first (an "Address already in
use" traceback and exit code 1 when it is taken), spawns an "engine core" child in its own
process group, reads its API key from VLLM_API_KEY and guards `/v1` paths with it
(401 `{"error": "Unauthorized"}`; POST requests too, unlike vLLM), answers `/health`, `/v1/models`, `/classify` and
`/metrics`; on SIGTERM it stops its engine core (SIGTERM, then waits for it) and exits.
`FAKE_VLLM_STUBBORN_CHILD=1`: the child ignores SIGTERM (only SIGKILL stops it): the server
exits without waiting for it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The "engine core": sleeps until SIGTERM. As vLLM's monitor does when its core dies under a
# server that did not stop it, it says "engine core exited unexpectedly" when the SIGTERM came
# from anyone but its server (a signal to the whole group); stubborn, it ignores SIGTERM.
CHILD = ("import os, signal, sys, time\n"
         "if sys.argv[1] == '1':\n"
         "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "    while True:\n"
         "        time.sleep(1)\n"
         "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
         "print('ready', flush=True)\n"
         "sender = signal.sigwaitinfo({signal.SIGTERM}).si_pid\n"
         "if sender != os.getppid():\n"
         "    sys.stderr.write(f'engine core exited unexpectedly (SIGTERM from pid {sender}, not its server)\\n')\n")


def fake_score(ids: list[int]) -> float:
    """A deterministic score of a token-id prompt (the tests compare it, not its meaning)."""
    digest = hashlib.sha256(json.dumps(ids).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def make_handler(model: str, key: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            sys.stderr.write(f"{self.command} {self.path}\n")

        def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            # stricter than vLLM, which leaves /classify, /pooling and /generative_scoring open:
            # here a scoring request without the key fails, so the tests see the client send it
            if not key or not (self.path.startswith(("/v1", "/v2")) or self.command == "POST"):
                return True
            return self.headers.get("Authorization", "") == f"Bearer {key}"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if not self._authorised():
                self._send(401, {"error": "Unauthorized"})
            elif self.path == "/health":
                self._send(200, "", "text/plain")
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": model, "object": "model"}]})
            elif self.path == "/metrics":
                self._send(200, "vllm:prefix_cache_hits_total 0.0\n", "text/plain")
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if not self._authorised():
                self._send(401, {"error": "Unauthorized"})
            elif self.path == "/classify":
                data = [{"index": i, "probs": [1 - fake_score(ids), fake_score(ids)]} for i, ids in enumerate(body["input"])]
                self._send(200, {"data": data})
            else:
                self._send(404, {"error": "not found"})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.model, os.environ.get("VLLM_API_KEY")))
    stubborn = os.environ.get("FAKE_VLLM_STUBBORN_CHILD", "0")
    child = subprocess.Popen([sys.executable, "-c", CHILD, stubborn], stdout=subprocess.PIPE, text=True)  # same group
    if stubborn == "0":
        child.stdout.readline()  # the core is up (as vLLM's server waits for its core) before we serve

    def shut_down(signum: int, frame: object) -> None:  # as vLLM's API server: the core first, then return
        child.terminate()
        if stubborn == "0":
            child.wait()
        sys.stderr.write("fake vLLM server: engine core stopped, exiting\n")
        sys.stderr.flush()
        threading.Thread(target=server.shutdown).start()  # serve_forever returns; main ends normally

    signal.signal(signal.SIGTERM, shut_down)
    sys.stderr.write(f"fake vLLM server on {args.host}:{args.port}, engine core pid {child.pid}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
