"""The HF scoring engine on tiny random models of each kind, and its lm-eval and Inspect adapters."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tests.fixture_data import RECORDS
from tests.helpers import cli, lm_eval_results, lm_eval_samples, metric
from toolprm_tasks.core.cases import cases_from_records
from toolprm_tasks.core.render import render_action
from toolprm_tasks.engines.base import PromptFormat, ScoreRequest, messages_for, shortened_histories
from toolprm_tasks.engines.hf import EngineError, HFEngine

REPO = Path(__file__).resolve().parents[1]


def _requests() -> list[ScoreRequest]:
    cases = cases_from_records(RECORDS["bfcl"](), subset="bfcl", source="bfcl")
    return [ScoreRequest(c.history, c.functions, a) for c in cases for a in (c.chosen, c.rejected)]


@pytest.mark.parametrize("kind, fixture", [("classifier", "tiny_classifier"), ("verifier", "tiny_llama"),
                                           ("label-token", "tiny_llama"), ("step", "tiny_step_prm")])
def test_every_kind_scores_each_candidate(kind: str, fixture: str, request: pytest.FixtureRequest) -> None:
    engine = HFEngine(str(request.getfixturevalue(fixture)), kind)
    requests = _requests()
    scores = engine.score(requests)
    assert len(scores) == len(requests) and all(math.isfinite(s) for s in scores)
    if kind != "classifier":
        assert all(0.0 < s < 1.0 for s in scores)  # probabilities
    assert engine.score(requests) == scores  # deterministic
    assert len(set(scores)) > 1  # the candidate matters
    assert engine.stats.requests == 2 * len(requests) and engine.stats.truncated == 0


def test_truncation_keeps_instruction_and_candidate(tiny_classifier: Path) -> None:
    case = cases_from_records(RECORDS["bfcl"](), subset="bfcl", source="bfcl")[1]  # user, call, tool turns
    request = ScoreRequest(case.history, case.functions, case.chosen)
    full = HFEngine(str(tiny_classifier), "classifier")
    prompt, shortened = full.prompt_for(request)
    assert not shortened
    short = HFEngine(str(tiny_classifier), "classifier", max_length=full.count_tokens(prompt) - 1)
    prompt, shortened = short.prompt_for(request)
    assert shortened and short.stats.truncated == 1
    assert render_action(case.chosen) in prompt and case.history[0]["content"] in prompt
    assert shortened_histories(case.history)[0] == [case.history[0], *case.history[2:]]
    # the flag travels with each score (the adapters report it per trial)
    assert [s.truncated for s in short.score_detailed([request, request])] == [True, True]
    # a context that holds the template but not this case even with no history
    floor = full.count_tokens(full.render(messages_for("classifier", request, [], PromptFormat())))
    tight = HFEngine(str(tiny_classifier), "classifier", max_length=floor - 1)
    with pytest.raises(EngineError, match=f"exceeds max_length={floor - 1}"):
        tight.prompt_for(request)


def test_failures_name_the_model(tiny_llama: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=f"{tmp_path}: could not be loaded as a classifier"):
        HFEngine(str(tmp_path), "classifier")
    with pytest.raises(EngineError, match="label 'Certainly' is"):
        HFEngine(str(tiny_llama), "verifier", fmt=PromptFormat(yes_token="Certainly"))
    with pytest.raises(ValueError, match="unknown kind"):
        HFEngine(str(tiny_llama), "oracle")


def _context_limit_that_shortens_some(model: Path, cases: list) -> tuple[int, float]:
    """A max_length that some trials' full prompts exceed and every shortest history fits,
    and the share of cases it shortens (a case: both candidates share one history)."""
    engine = HFEngine(str(model), "classifier")

    def length(history: list, functions: object, action: object) -> int:
        request = ScoreRequest(history, functions, action)
        return engine.count_tokens(engine.render(messages_for("classifier", request, history, PromptFormat())))

    full, shortest = [], []
    for case in cases:
        actions = (case.chosen, case.rejected)
        full.append(max(length(case.history, case.functions, a) for a in actions))
        floor = (shortened_histories(case.history) or [case.history])[-1]
        shortest.append(max(length(floor, case.functions, a) for a in actions))
    limit = max(max(shortest), sorted(full)[len(full) // 2])
    share = sum(1 for f in full if f > limit) / len(full)
    assert 0.0 < share < 1.0, (full, shortest, limit)  # the test needs both kinds of case
    return limit, share


@pytest.mark.cli
def test_lm_eval_and_inspect_with_the_hf_engine(data_env, tmp_path: Path, tiny_classifier: Path) -> None:
    from toolprm_tasks.data import load_subset

    limit, expected_truncated = _context_limit_that_shortens_some(tiny_classifier, load_subset("bfcl").cases)
    cli("lm_eval", "--model", "toolprm-hf", "--model_args",
        f"pretrained={tiny_classifier},kind=classifier,max_length={limit}",
        "--device", "cpu", "--tasks", "toolprmbench_bfcl_prm", "--output_path", str(tmp_path / "lm"),
        "--log_samples", env=data_env)
    samples = lm_eval_samples(tmp_path / "lm", "toolprmbench_bfcl_prm")
    correct = []
    for sample in samples:
        s1, s2 = (float(r[0][0]) for r in sample["resps"])  # the engine's scores, unnormalised
        first = 0.5 if s1 == s2 else float(s1 > s2)
        correct.append(first if sample["doc"]["chosen_position"] == 1 else 1 - first)
    results = lm_eval_results(tmp_path / "lm")
    lm_acc = metric(results, "toolprmbench_bfcl_prm", "acc")
    assert lm_acc == pytest.approx(sum(correct) / len(correct))
    # every shortened case is counted in the results table
    assert metric(results, "toolprmbench_bfcl_prm", "truncated") == pytest.approx(expected_truncated)

    cli("inspect", "eval", "toolprm_tasks/bfcl.py", "-T", "protocol=pointwise", "--model",
        f"toolprm-hf/{tiny_classifier}", "-M", "kind=classifier", "-M", f"max_length={limit}",
        "--log-dir", str(tmp_path / "logs"), env=data_env, cwd=REPO)
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success"
    metrics = {n: m.value for s in log.results.scores for n, m in s.metrics.items()}
    assert metrics["acc"] == pytest.approx(lm_acc)  # same engine, same trials, same numbers
    assert metrics["truncated"] == pytest.approx(expected_truncated)


def test_unknown_backend_options_are_refused(tiny_classifier: Path) -> None:
    from toolprm_tasks.engines.factory import OptionError, make_engine

    with pytest.raises(OptionError, match="unknown option\\(s\\) step_tags; known: kind, max_length, step_tag"):
        make_engine("hf", str(tiny_classifier), {"kind": "step", "step_tags": "<s>"})
    # the options lm-eval passes to every model are accepted
    engine = make_engine("hf", str(tiny_classifier), {"kind": "classifier", "batch_size": 1, "device": "cpu",
                                                        "yes_token": "Yes"})
    assert isinstance(engine, HFEngine) and engine.fmt.yes_token == "Yes"


def test_pairwise_kind_generates_greedy_answers_within_limits(tiny_llama: Path) -> None:
    engine = HFEngine(str(tiny_llama), "pairwise", max_length=64)
    prompts = ["Which action is better? Action1 or Action2", "Action2 or Action1?"]
    short, longer = engine.generate(prompts, max_tokens=[2, 6])
    first_long, second_long = engine.generate(prompts, max_tokens=6)
    assert second_long == longer  # greedy: the same answer again
    # a limit per prompt: the 2-token answer is the start of the 6-token one (a cut byte-level
    # character decodes as U+FFFD)
    assert len(first_long) > len(short.rstrip("\ufffd")) and first_long.startswith(short.rstrip("\ufffd"))
    assert engine.stats.requests == 4
    # a prompt that fills the context is not sent: an empty answer, its reason, counted (not an error)
    (unsent,) = engine.generate_detailed(["word " * 200])
    assert unsent.text == "" and re.search("judge prompt 0 has .* tokens; the context holds 64", unsent.unsent)
    assert engine.stats.unfit == 1
    with pytest.raises(ValueError, match="does not score single candidates"):
        engine.score(_requests()[:1])


def test_a_kind_that_does_not_fit_the_task_is_one_message(tiny_llama: Path) -> None:
    """kind=pairwise on a _prm task, or a scoring kind on a generative task, ended lm_eval in a
    traceback (the pairwise one naming no task to use); now a marked error the command prints alone."""
    from types import SimpleNamespace

    from toolprm_tasks.brief_errors import _marked
    from toolprm_tasks.lm_eval_adapter.prm_model import HFPRMLM

    with pytest.raises(ValueError, match="kind=pairwise answers the paper's pairwise prompt: run it on the "
                                         "generative tasks") as info:
        HFPRMLM(str(tiny_llama), kind="pairwise").loglikelihood([SimpleNamespace(doc={}, idx=0)])
    assert _marked(info.value) is info.value
    with pytest.raises(NotImplementedError, match="kind=verifier scores candidates: use the toolprmbench_\\*_prm") as info:
        HFPRMLM(str(tiny_llama), kind="verifier").generate_until([SimpleNamespace(args=("q", {}))])
    assert _marked(info.value) is info.value


def test_lm_eval_until_cuts_generated_answers() -> None:
    from toolprm_tasks.lm_eval_adapter.prm_model import _cut_at_stop

    assert _cut_at_stop("Action1\n\nmore", ["\n\n"]) == "Action1"
    assert _cut_at_stop("a.b;c", [";", "."]) == "a"  # the earliest stop wins
    assert _cut_at_stop("no stop here", "</s>") == "no stop here"
    assert _cut_at_stop("text", None) == "text"


def test_a_runtime_failure_names_the_model_and_the_cause(tiny_classifier: Path) -> None:
    engine = HFEngine(str(tiny_classifier), "classifier")

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    engine.model.forward = out_of_memory  # what a too-large batch does on a GPU
    with pytest.raises(EngineError, match=f"{tiny_classifier}: the classifier engine failed while scoring 2 prompts "
                                          r"\(RuntimeError: CUDA out of memory.*\) \(lower max_length"):
        engine.score(_requests()[:2])


def test_model_info_lookup_key_is_inspects() -> None:
    """The one place that knows Inspect's private lookup key agrees with the installed Inspect."""
    from inspect_ai.model._model_info import MODEL_INFO_LOOKUP_API_KEY

    from toolprm_tasks.inspect_adapter.prm_provider import is_model_info_lookup

    assert is_model_info_lookup(MODEL_INFO_LOOKUP_API_KEY)
    assert not is_model_info_lookup(None) and not is_model_info_lookup("sk-a-real-key")


def test_one_engine_per_model_and_a_model_reused_across_evals(data_env, monkeypatch: pytest.MonkeyPatch,
                                                              tiny_llama: Path, tmp_path: Path) -> None:
    """Inspect's model-info lookup builds a provider from the bare model name; it must not load a
    second engine (of the default kind: a classifier head on a verifier's weights), and a model
    object reused by a second `eval()` (a new event loop) must still score."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    import toolprm_tasks.inspect_adapter.prm_provider as inspect_prm
    from toolprm_tasks.bfcl import bfcl

    built: list[str] = []
    real_make_engine = inspect_prm.make_engine

    def counting(backend: str, model: str, options: dict) -> object:
        built.append(options.get("kind", "default"))
        return real_make_engine(backend, model, options)

    monkeypatch.setattr(inspect_prm, "make_engine", counting)
    model = get_model(f"toolprm-hf/{tiny_llama}", kind="verifier", device="cpu", memoize=False)
    values = []
    for _ in range(2):
        log = inspect_eval(bfcl(protocol="pointwise"), model=model, limit=2, display="none",
                           log_dir=str(tmp_path / "logs"))[0]
        assert log.status == "success", log.error
        values.append([s.scores["toolprm_scorer"].explanation for s in log.samples])
    assert built == ["verifier"]
    assert values[0] == values[1]  # same model, same cases: the same scores


def test_enforce_eager_is_an_option_with_an_environment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolprm_tasks.engines.vllm_engine import engine_args
    from toolprm_tasks.engines.vllm_server import server_flags

    monkeypatch.delenv("TOOLPRMBENCH_VLLM_ENFORCE_EAGER", raising=False)
    assert "enforce_eager" not in engine_args("m", "classifier", PromptFormat(), max_length=512)
    assert engine_args("m", "classifier", PromptFormat(), max_length=512, enforce_eager=True)["enforce_eager"] is True
    monkeypatch.setenv("TOOLPRMBENCH_VLLM_ENFORCE_EAGER", "1")
    args = engine_args("m", "verifier", PromptFormat(), max_length=512)
    assert args["enforce_eager"] is True and "--enforce-eager" in server_flags(args)
    assert "enforce_eager" not in engine_args("m", "verifier", PromptFormat(), max_length=512, enforce_eager=False)


def test_a_candidate_too_long_for_any_context_is_counted_not_fatal(tiny_classifier: Path) -> None:
    """A policy's degenerate candidate (search) that fits with no history at all gets NaN and
    is counted; the requests batched with it are scored as if it were not there."""
    case = cases_from_records(RECORDS["bfcl"](), subset="bfcl", source="bfcl")[1]
    request = ScoreRequest(case.history, case.functions, case.chosen)
    engine = HFEngine(str(tiny_classifier), "classifier")
    alone = engine.score_detailed([request])[0]
    huge = ScoreRequest(case.history, case.functions, {"name": "f", "arguments": {"x": "y " * 20_000}})
    mixed = engine.score_detailed([request, huge, request])
    assert [s.score for s in (mixed[0], mixed[2])] == [alone.score, alone.score]
    assert math.isnan(mixed[1].score) and not mixed[1].truncated  # unsent, not shortened (stats.truncated agrees)
    assert engine.stats.truncated == 0
    assert engine.stats.unfit == 1 and engine.stats.requests == 4
    assert all(math.isnan(s.score) for s in engine.score_detailed([huge]))  # nothing left to run: no call


def _random_head_scores(model: Path, kind: str) -> list[float]:
    """What loading without the refusal gives: transformers initialises the missing head anew."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    cls = AutoModelForSequenceClassification if kind == "classifier" else AutoModelForCausalLM
    with torch.no_grad():
        return [float(cls.from_pretrained(model)(input_ids=torch.tensor([[5, 6, 7]])).logits[0, -1].sum())
                for _ in range(2)]


@pytest.mark.parametrize("fixture, kind, missing, right", [
    ("tiny_llama", "classifier", "score.weight", "use kind=verifier, label-token or pairwise"),
    ("tiny_llama", "step", "score.bias, score.weight", "use kind=verifier, label-token or pairwise"),
    ("tiny_classifier", "verifier", "lm_head.weight", "use kind=classifier"),
    ("tiny_classifier", "label-token", "lm_head.weight", "use kind=classifier"),
    ("tiny_step_prm", "pairwise", "lm_head.weight", "use kind=step"),
])
def test_a_checkpoint_without_the_kinds_weights_is_refused(fixture: str, kind: str, missing: str, right: str,
                                                           request: pytest.FixtureRequest) -> None:
    """Found in review: the default kind=classifier on a causal LM scored with a newly
    initialised head (different numbers on every load). Both backends refuse alike: HF from
    transformers' loading info, vLLM from the safetensors headers before any engine starts."""
    from toolprm_tasks.engines.factory import make_engine
    from toolprm_tasks.engines.vllm_engine import engine_args

    model = request.getfixturevalue(fixture)
    if kind in ("classifier", "verifier"):
        first, second = _random_head_scores(model, kind)
        assert first != second  # what the refusal prevents: a random head, new on every load
    expected = (f"{model}: the checkpoint \\(Llama\\w+\\) has no weights for {missing}, which kind={kind} needs: "
                f"they would be newly initialised and every score random; {right}$")
    options = {} if kind == "classifier" else {"kind": kind}  # classifier: the default kind
    with pytest.raises(EngineError, match=expected):
        make_engine("hf", str(model), options)
    with pytest.raises(EngineError, match=expected):  # vLLM's arguments are never built: no engine starts
        engine_args(str(model), kind, PromptFormat())


def test_tied_embeddings_are_not_missing_weights(tmp_path: Path) -> None:
    """A causal LM whose head is its embedding matrix saves no `lm_head.weight`: not missing."""
    from safetensors import safe_open

    from tests.conftest import _corpus
    from tests.tiny_model import build_tiny_llama
    from toolprm_tasks.engines.vllm_engine import engine_args

    model = build_tiny_llama(tmp_path / "tied", _corpus(), tie_word_embeddings=True)
    with safe_open(str(model / "model.safetensors"), framework="np") as handle:
        assert "lm_head.weight" not in set(handle.keys())
    engine = HFEngine(str(model), "verifier")
    assert engine.model.lm_head.weight.data_ptr() == engine.model.model.embed_tokens.weight.data_ptr()
    assert all(0.0 < s < 1.0 for s in engine.score(_requests()[:2]))
    assert engine_args(str(model), "verifier", PromptFormat(), max_length=512)["runner"] == "generate"
    with pytest.raises(EngineError, match="no weights for score.weight, which kind=classifier"):
        engine_args(str(model), "classifier", PromptFormat(), max_length=512)


BAD_OPTIONS = [
    # (backend, options, what the error says)
    ("hf", {"max_length": "abc"}, "toolprm-hf: option max_length must be a whole number >= 1, got 'abc'"),
    ("hf", {"max_length": 0}, "option max_length must be a whole number >= 1, got 0"),
    ("hf", {"max_length": 2.5}, "option max_length must be a whole number >= 1, got 2.5"),
    ("hf", {"max_length": True}, "option max_length must be a whole number >= 1, got True"),
    ("hf", {"kind": "oracle"}, "option kind must be one of classifier, step, label-token, verifier, pairwise"),
    ("hf", {"dtype": "float64"}, "option dtype must be one of float32, bfloat16, float16, got 'float64'"),
    ("hf", {"trust_remote_code": "maybe"}, "option trust_remote_code must be true or false"),
    ("hf", {"kind": "verifier", "yes_token": "Yes", "no_token": "Yes"},
     "options yes_token and no_token must differ \\(both 'Yes'\\)"),
    ("hf", {"kind": "label-token", "good_token": "+", "bad_token": "+"}, "options good_token and bad_token must differ"),
    ("hf", {"step_tag": ""}, "option step_tag must be a non-empty text, got ''"),
    # Inspect's -M is YAML: `-M yes_token=Yes` arrives as True, `-M bad_token=-` as [None] (was "label '[None]'")
    ("hf", {"kind": "verifier", "yes_token": True}, "option yes_token must be a non-empty text; Inspect reads -M values "
                                                    "as YAML, which made this bool: quote the text"),
    ("hf", {"kind": "label-token", "bad_token": [None]}, "which made this list: quote the text"),
    ("vllm", {"tensor_parallel_size": "two"}, "toolprm-vllm: option tensor_parallel_size must be a whole number >= 1"),
    ("vllm", {"gpu_memory_utilization": 1.5}, "option gpu_memory_utilization must be a number greater than 0 and at "
                                              "most 1, got 1.5"),
    ("vllm", {"gpu_memory_utilization": "nan"}, "option gpu_memory_utilization must be a number greater than 0"),
    ("vllm", {"server": "maybe"}, "option server must be true or false"),  # was read as false
    ("vllm", {"enforce_eager": 2}, "option enforce_eager must be true or false"),
    ("vllm", {"base_url": "ftp://user:secret@host"}, "option base_url must be an http:// or https:// URL, got a "
                                                      "value that is not shown$"),
]


@pytest.mark.parametrize("backend, options, message", BAD_OPTIONS)
def test_engine_options_are_checked_by_one_rule_each(backend: str, options: dict, message: str) -> None:
    """Found in review: `max_length=abc` was a bare ValueError from int(), `server=maybe` ran as
    false, equal labels made every score 0.5. The check runs before anything loads."""
    from toolprm_tasks.engines.factory import OptionError, make_engine

    with pytest.raises(OptionError, match=message):
        make_engine(backend, "/no/such/model", options)


def test_typed_and_text_option_values_read_alike() -> None:
    """lm-eval hands `max_length=5` over as 5, Inspect's YAML too, a Python caller maybe "5"."""
    from toolprm_tasks.engines.factory import engine_options

    as_text = engine_options("vllm", {"max_length": "512", "server": "TRUE", "gpu_memory_utilization": "0.5",
                                      "yes_token": 1, "no_token": "0", "batch_size": "auto", "device": "cuda:0"})
    typed = engine_options("vllm", {"max_length": 512, "server": True, "gpu_memory_utilization": 0.5,
                                    "yes_token": "1", "no_token": 0})
    assert as_text == typed == {"max_length": 512, "server": True, "gpu_memory_utilization": 0.5, "yes_token": "1",
                                "no_token": "0"}


def test_a_whole_valued_float_is_a_whole_number() -> None:
    """lm-eval's --model_args reads "-1" as -1.0 ("-1".isnumeric() is false): seed=-1 was refused
    as "got -1.0" in lm-eval while Inspect ran it; 2.5, inf, NaN and True are still no whole number."""
    import math

    from toolprm_tasks.engines.factory import whole

    assert [whole()(v) for v in (-1.0, 3.0, "-1", 7)] == [-1, 3, -1, 7]
    assert whole()(2.0 ** 53) == 2 ** 53
    for bad in (2.5, math.inf, math.nan, True, "1.0", None, 1e300, -2.0 ** 60):  # past 2**53 a float is no exact int
        with pytest.raises(ValueError, match="a whole number"):
            whole()(bad)
    with pytest.raises(ValueError, match=">= 1"):
        whole(1)(0.0)


@pytest.mark.parametrize("kind, fixture", [("classifier", "tiny_classifier"), ("verifier", "tiny_llama"),
                                           ("pairwise", "tiny_llama")])
def test_a_context_too_short_for_any_prompt_is_refused(kind: str, fixture: str,
                                                       request: pytest.FixtureRequest) -> None:
    """Found in review: max_length=1 was accepted and every score was NaN."""
    model = request.getfixturevalue(fixture)
    with pytest.raises(EngineError, match=f"{model}: max_length=1 cannot hold even the shortest {kind} prompt "
                                          r"\(\d+ tokens with no tools, history or candidate.*\); raise max_length"):
        HFEngine(str(model), kind, max_length=1)
    engine = HFEngine(str(model), kind, max_length=512)
    shortest = engine.count_tokens(engine.render(
        [{"role": "user", "content": ""}] if kind == "pairwise"
        else messages_for(kind, ScoreRequest([], None, ""), [], PromptFormat())))
    fits = shortest + (1 if kind == "pairwise" else 0)  # pairwise: room for one answer token
    HFEngine(str(model), kind, max_length=fits)  # the smallest context that holds it
    with pytest.raises(EngineError, match=f"max_length={fits - 1} cannot hold"):
        HFEngine(str(model), kind, max_length=fits - 1)


def test_lm_eval_model_args_and_inspect_model_args_go_through_the_same_check(tiny_classifier: Path) -> None:
    from inspect_ai.model import get_model

    from tests.helpers import evaluate
    from toolprm_tasks.engines.factory import OptionError

    message = "toolprm-hf: option max_length must be a whole number >= 1, got 'abc'"
    with pytest.raises(OptionError, match=message):
        evaluate("toolprm-hf", ["toolprmbench_gta_prm"], model_args=f"pretrained={tiny_classifier},max_length=abc",
                 device="cpu")
    with pytest.raises(OptionError, match=message):
        get_model(f"toolprm-hf/{tiny_classifier}", memoize=False, max_length="abc")
    with pytest.raises(OptionError, match="options yes_token and no_token must differ"):
        evaluate("toolprm-vllm", ["toolprmbench_gta_prm"],
                 model_args=f"pretrained={tiny_classifier},kind=verifier,yes_token=A,no_token=A")
    with pytest.raises(OptionError, match="toolprm-vllm: option server must be true or false .*, got 'maybe'"):
        get_model(f"toolprm-vllm/{tiny_classifier}", memoize=False, server="maybe")


def test_inspect_usage_is_the_engines_token_count_and_consistent(data_env, tiny_classifier: Path, tiny_llama: Path,
                                                                 tmp_path: Path) -> None:
    """Found by a newcomer: Inspect's summary read "0 tokens [I: 2,173,195 ...]" (the baseline
    counted words as input tokens with a total of 0; the engines reported nothing). Now the
    total is input plus output everywhere; the engines report the prompts they sent."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai._display.core.results import model_usage_summary
    from inspect_ai.model import get_model
    from rich.text import Text
    from transformers import AutoTokenizer

    from toolprm_tasks.bfcl import bfcl
    from toolprm_tasks.core.trials import JudgeView
    from toolprm_tasks.inspect_adapter.keys import VIEW_KEY

    model = get_model(f"toolprm-hf/{tiny_classifier}", kind="classifier", device="cpu", memoize=False)
    log = inspect_eval(bfcl(protocol="pointwise"), model=model, limit=3, display="none", log_dir=str(tmp_path))[0]
    assert log.status == "success", log.error
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    expected = 0
    for sample in log.samples:
        view = JudgeView.from_json(sample.input[0].metadata[VIEW_KEY])
        for candidate in view.candidates:
            prompt, _ = model.api.engine.prompt_for(ScoreRequest(view.history, view.functions, candidate))
            expected += len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    (usage,) = log.stats.model_usage.values()
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (expected, 0, expected) and expected > 0
    summary = Text.from_markup(str(model_usage_summary("m", usage)[1])).plain  # the line Inspect prints
    assert summary.strip() == f"{expected:,} tokens [I: {expected:,}, O: 0]"

    judge = get_model(f"toolprm-hf/{tiny_llama}", kind="pairwise", device="cpu", max_length=8192, memoize=False)
    log = inspect_eval(bfcl(max_tokens=4), model=judge, limit=2, display="none", log_dir=str(tmp_path))[0]
    (usage,) = log.stats.model_usage.values()
    assert usage.input_tokens > 0 and 0 < usage.output_tokens <= 2 * 4
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    log = inspect_eval(bfcl(), model="toolprm-baseline/first", limit=2, display="none", log_dir=str(tmp_path))[0]
    (usage,) = log.stats.model_usage.values()
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (0, 0, 0)  # nothing is tokenised


def test_closing_an_inspect_model_closes_its_engine(tiny_classifier: Path) -> None:
    """Inspect closes a model used as a context manager: the engine goes with it (vLLM's core,
    our server); other runs close it at exit (`exit_hooks`)."""
    from inspect_ai.model import get_model

    model = get_model(f"toolprm-hf/{tiny_classifier}", kind="classifier", device="cpu", memoize=False)
    closed: list[bool] = []
    model.api.engine.close = lambda: closed.append(True)
    with model:
        pass
    assert closed == [True]


def test_inspect_pointwise_with_an_answering_kind_names_the_kind(data_env, tmp_path: Path, tiny_llama: Path) -> None:
    """kind=pairwise under -T protocol=pointwise generated answers, then failed as "no
    'toolprm_score' ... needs a scoring provider" though a PRM provider was in use."""
    from inspect_ai import eval as inspect_eval

    from toolprm_tasks.gta import gta

    log = inspect_eval(gta(protocol="pointwise"), model=f"toolprm-hf/{tiny_llama}", model_args={"kind": "pairwise"},
                       limit=1, display="none", log_dir=str(tmp_path))[0]
    assert log.status == "error" and "with kind=pairwise answers the paper's pairwise prompt: use -T " \
                                      "protocol=generative" in log.error.message
