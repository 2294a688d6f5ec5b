"""A vLLM server's answers are hostile input too (an adversarial probe, 2026-12-07): scores that
are no probability are NaN and counted, results under wrong indices or too large are refused,
our key and a URL's password never reach a message, a server without /metrics is no failure.
A stub server on 127.0.0.1 answers each request as the test says; no vLLM is started."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from toolprm_tasks.engines import vllm_server
from toolprm_tasks.engines.base import EngineError, EngineStats, PromptFormat, ScoreRequest
from toolprm_tasks.engines.vllm_server import VLLMServerEngine, redacted_url

KEY = "sk-secret-key-123"


class _Tokenizer:
    chat_template = None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) % 500 for c in text[:50]]


@pytest.fixture
def stub() -> Iterator[dict[str, Any]]:
    """A server whose answer to /classify is `state["classify"](n_inputs)` and to /metrics
    `state["metrics"]` (a status and a text)."""
    state: dict[str, Any] = {"metrics": (200, "vllm:prefix_cache_hits_total 0.0\n")}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, text = state["metrics"]
            self._send(status, text.encode())

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            count = len(body["input"] if "input" in body else body["prompt"])
            status, body = state["classify"](count, dict(self.headers))
            self._send(status, body if isinstance(body, bytes) else json.dumps(body).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def _engine(url: str) -> VLLMServerEngine:
    engine = object.__new__(VLLMServerEngine)  # the client alone: no model, no server started
    engine.model_path, engine.kind, engine.max_length, engine.max_model_len = "fake", "classifier", 4096, 4096
    engine.fmt, engine.stats, engine.tokenizer, engine.label_ids = PromptFormat(), EngineStats(), _Tokenizer(), []
    engine.served_model_name, engine.server, engine.api_key, engine.base_url = "fake", None, KEY, url
    return engine


REQUESTS = [ScoreRequest([{"role": "user", "content": "hi"}], None, "a"),
            ScoreRequest([{"role": "user", "content": "yo"}], None, "b")]


def _answers(probs: list[Any]) -> Callable[[int, dict], tuple[int, Any]]:
    return lambda n, _: (200, {"data": [{"index": i, "probs": [0.5, p]} for i, p in enumerate(probs)]})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "0.9", None])
def test_a_score_that_is_no_number_is_nan_and_counted(stub, bad) -> None:
    stub["classify"] = lambda n, _: (200, json.dumps({"data": [{"index": 0, "probs": [0.5, 0.25]},
                                                               {"index": 1, "probs": [0.5, bad]}]}).encode())
    engine = _engine(stub["url"])
    scores = [s.score for s in engine.score_detailed(REQUESTS)]
    assert scores[0] == 0.25 and math.isnan(scores[1]) and engine.stats.bad_scores == 1  # were 1.0, inf, 7.5 ...


@pytest.mark.parametrize("indices", [[100, 99], [0, 0], [1, "0"]])
def test_results_under_wrong_indices_are_refused(stub, indices) -> None:
    stub["classify"] = lambda n, _: (200, {"data": [{"index": i, "probs": [0.5, 0.5]} for i in indices]})
    with pytest.raises(EngineError, match="not indexed 0..1"):  # were scores attached to the wrong requests
        _engine(stub["url"]).score_detailed(REQUESTS)


def test_a_body_past_the_limit_is_refused(stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_server, "MAX_RESPONSE_BYTES", 1000)
    stub["classify"] = lambda n, _: (200, b"x" * 5000)
    with pytest.raises(EngineError, match="larger than 1000 bytes"):
        _engine(stub["url"]).score_detailed(REQUESTS)


def test_neither_the_key_nor_a_password_reaches_a_message(stub) -> None:
    stub["classify"] = lambda n, headers: (400, {"error": "bad", "echo": headers.get("Authorization")})
    with pytest.raises(EngineError) as caught:
        _engine(stub["url"]).score_detailed(REQUESTS)
    assert KEY not in str(caught.value) and "***" in str(caught.value)
    engine = _engine("http://user:pa55word@127.0.0.1:9/")  # nothing listens on port 9
    with pytest.raises(EngineError) as unreachable:
        engine.score_detailed(REQUESTS)
    assert "pa55word" not in str(unreachable.value)
    assert redacted_url("http://user:pa55word@host:8000/v1") == "http://host:8000/v1"


def test_a_server_without_metrics_still_scores(stub) -> None:
    stub["classify"] = _answers([0.5, 0.75])
    for metrics in ((404, "not found"), (200, "vllm:prefix_cache_hits_total 1e999\n"),
                    (200, "vllm:prefix_cache_hits_total 1.2.3\n")):  # was a ValueError that stopped scoring
        stub["metrics"] = metrics  # were an EngineError for every call, and a ValueError
        assert [s.score for s in _engine(stub["url"]).score_detailed(REQUESTS)] == [0.5, 0.75]


def test_a_server_that_cannot_start_leaves_no_log_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(vllm_server.tempfile, "tempdir", str(tmp_path))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(vllm_server.subprocess, "Popen", refuse)
    with pytest.raises(OSError, match="Too many open files"):
        vllm_server.VLLMServer("m", [])
    assert list(tmp_path.iterdir()) == []  # was one vllm-server-*.log per try


def test_a_classifiers_raw_logit_is_a_score_and_a_probability_outside_0_1_is_not(stub) -> None:
    """vLLM applies no activation to a regression head: its /classify scores are logits."""
    stub["classify"] = _answers([3.2, -1.5])
    assert [s.score for s in _engine(stub["url"]).score_detailed(REQUESTS)] == [3.2, -1.5]
    from toolprm_tasks.engines.vllm_server import _server_score

    assert math.isnan(_server_score(7.5, probability=True)) and _server_score(0.75, probability=True) == 0.75


class _StrictTokenizer(_Tokenizer):
    """Refuses what a Hugging Face fast tokenizer refuses: text that is not a string, and a lone
    surrogate (its TypeError)."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        if not isinstance(text, str):
            raise ValueError("text input must be of type `str`")
        text.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, as the Rust tokenizer's TypeError
        return super().encode(text, add_special_tokens)


def _judge(url: str) -> VLLMServerEngine:
    engine = _engine(url)
    engine.kind, engine.tokenizer = "pairwise", _StrictTokenizer()
    return engine


def test_a_server_answer_holding_a_lone_surrogate_is_written_as_a_replacement_character(stub) -> None:
    """It ended the run in the tokenizer that counts the answer's tokens; kept, it would have ended
    it in Inspect's log or lm-eval's samples file (hostile-output probe and its review)."""
    import json as json_module

    from scorers.core import parse_pairwise_answer

    stub["classify"] = lambda n, _: (200, {"choices": [{"index": 0, "text": "Action 1\ud800"},
                                                       {"index": 1, "text": "Action 2"}]})
    answers = _judge(stub["url"]).generate_detailed(["p", "q"], max_tokens=8)
    assert [a.text for a in answers] == ["Action 1\ufffd", "Action 2"] and answers[0].answer_tokens > 0
    json_module.dumps([a.text for a in answers], ensure_ascii=False).encode("utf-8")  # writable
    assert [parse_pairwise_answer(a.text).pick for a in answers] == [1, 2]


@pytest.mark.parametrize("text", [None, 1, ["Action 1"]])
def test_a_completion_without_text_is_a_named_engine_error(stub, text) -> None:
    stub["classify"] = lambda n, _: (200, {"choices": [{"index": 0, "text": text}, {"index": 1, "text": "Action 2"}]})
    with pytest.raises(EngineError, match=r"completion 0 has no text \(choices\[\]\.text is"):
        _judge(stub["url"]).generate_detailed(["p", "q"], max_tokens=8)
