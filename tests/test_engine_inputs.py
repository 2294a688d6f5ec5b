"""Engine inputs found by an adversarial probe: each one request's failure, or a clear error
at load naming the option, never a batch crash or a silently wrong score (tiny models, CPU)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from toolprm_tasks.engines.base import EngineError, PromptFormat, ScoreRequest
from toolprm_tasks.engines.factory import OptionError, make_engine
from toolprm_tasks.engines.hf import HFEngine, model_context
from toolprm_tasks.engines.vllm_engine import PrefixCachedEngine

USER = [{"role": "user", "content": "the weather"}]


def _tag_at(engine: HFEngine, request: ScoreRequest) -> float:
    """P(correct) computed by hand at the step tag appended to the candidate (the last id
    before the template's end of turn)."""
    import torch

    ids = engine.encode_prompt(engine.prompt_for(request)[0])
    position = len(ids) - len(engine._step_tail_ids) - 1
    assert ids[position] == engine.step_id
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([ids])).logits.float()
    return float(torch.softmax(logits[0, position], -1)[1])


def test_a_step_tag_that_is_no_special_token_is_read_at_its_own_token(tiny_step_prm: Path) -> None:
    """"call th" + tag "e" tokenised as one text is "call the": the tag's token was read at an
    earlier "e" (or lost: an EngineError for the whole batch)."""
    engine = HFEngine(str(tiny_step_prm), "step", fmt=PromptFormat(step_tag="e"))
    request = ScoreRequest(USER, None, "call th")
    text = engine.prompt_for(request)[0]
    assert engine.tokenizer.encode(text, add_special_tokens=False)[-1] != engine.step_id  # the tag merges
    ids = engine.encode_prompt(text)
    assert ids[-1] == engine.step_id and engine._step_tail_ids == []  # no chat template: nothing after it
    (scored,) = engine.score_detailed([request])
    assert scored.score == pytest.approx(_tag_at(engine, request), abs=1e-6) and scored.prompt_tokens == len(ids)


def test_step_tag_before_a_chat_templates_end_of_turn(tiny_step_prm: Path, tmp_path: Path) -> None:
    """With a template the tag is followed by its end of turn: the score is read at the tag; a
    special-token tag tokenises exactly as the whole text did; a tail holding the tag is refused."""
    from transformers import AutoTokenizer

    model = tmp_path / "templated"
    shutil.copytree(tiny_step_prm, model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}</s>\n{% endfor %}"
    tokenizer.save_pretrained(model)
    engine = HFEngine(str(model), "step")
    request = ScoreRequest(USER, None, "call th")
    text = engine.prompt_for(request)[0]
    assert engine._step_tail == "</s>\n" and engine.encode_prompt(text) == tokenizer.encode(text, add_special_tokens=False)
    assert engine.score([request]) == pytest.approx([_tag_at(engine, request)], abs=1e-6)
    with pytest.raises(EngineError, match="end of turn '</s>\\\\n' holds the step tag '\\\\n'"):
        HFEngine(str(model), "step", fmt=PromptFormat(step_tag="\n"))


class _Recording(PrefixCachedEngine):
    """The vLLM engines' prompt building (`PrefixCachedEngine`) without vLLM: the ids it would send."""

    def __init__(self, model: str, fmt: PromptFormat) -> None:
        from transformers import AutoTokenizer

        self.tokenizer, self.max_model_len, self.sent = AutoTokenizer.from_pretrained(model), 8192, []
        super().__init__(model, "step", self.max_model_len, fmt)

    def _run(self, token_ids: list[list[int]]) -> tuple[list[float], int]:
        self.sent += token_ids
        return [0.5] * len(token_ids), 0


def test_vllm_prompt_ids_end_with_the_step_tags_own_token(tiny_step_prm: Path) -> None:
    """STEP pooling reads the last tag: the ids sent must end with it, as HF's do."""
    fmt = PromptFormat(step_tag="e")
    engine, hf = _Recording(str(tiny_step_prm), fmt), HFEngine(str(tiny_step_prm), "step", fmt=fmt)
    requests = [ScoreRequest(USER, None, "call th"), ScoreRequest(USER, None, "Hello worl")]
    engine.score(requests)
    assert [ids[-1] for ids in engine.sent] == [engine.step_id] * 2
    assert engine.sent == [hf.encode_prompt(hf.prompt_for(r)[0]) for r in requests]


@pytest.mark.parametrize("kind, fixture", [("classifier", "tiny_classifier"), ("step", "tiny_step_prm"),
                                           ("verifier", "tiny_llama")])
def test_text_the_tokenizer_cannot_encode_is_that_requests_nan(kind: str, fixture: str,
                                                              request: pytest.FixtureRequest) -> None:
    """A lone surrogate was a tokenizer TypeError that failed the whole batch."""
    engine = HFEngine(str(request.getfixturevalue(fixture)), kind)
    scored = engine.score_detailed([ScoreRequest(USER, None, "fine"), ScoreRequest(USER, None, {"a": "x\ud800"}),
                                    ScoreRequest([{"role": "user", "content": "x\ud800"}], None, "fine")])
    assert math.isfinite(scored[0].score) and [math.isnan(s.score) for s in scored[1:]] == [True, True]
    assert engine.stats.unfit == 2 and engine.stats.requests == 3


def test_one_unsendable_judge_prompt_leaves_the_others_answered(tiny_llama: Path) -> None:
    """A judge prompt longer than the context (or one that cannot be tokenised) failed every
    prompt of the call; now its answer is empty (a parse failure), with the reason."""
    engine = HFEngine(str(tiny_llama), "pairwise", max_length=64)
    alone = engine.generate_detailed(["short prompt"], max_tokens=3)[0]
    answers = engine.generate_detailed(["short prompt", "word " * 400, "x\ud800"], max_tokens=3)
    assert answers[0] == alone and answers[0].prompt_tokens > 0 and not answers[0].unsent
    assert [(a.text, a.prompt_tokens, a.answer_tokens) for a in answers[1:]] == [("", 0, 0)] * 2
    assert "judge prompt 1 has" in answers[1].unsent and "cannot be tokenised" in answers[2].unsent
    assert engine.stats.unfit == 2 and engine.stats.requests == 4
    assert engine.generate(["word " * 400], max_tokens=3) == [""]  # lm-eval's generate_until reads these


def test_hf_max_length_above_the_models_context_is_refused(tiny_classifier: Path) -> None:
    with pytest.raises(EngineError, match="max_length=8193 is more than the model's context of 8192 tokens "
                                          r"\(max_position_embeddings in its config\); lower max_length"):
        HFEngine(str(tiny_classifier), "classifier", max_length=8193)
    assert HFEngine(str(tiny_classifier), "classifier", max_length=8192).max_length == 8192
    # no max_position_embeddings: the tokenizer's limit, unless it is transformers' "not set"
    assert model_context(SimpleNamespace(), SimpleNamespace(model_max_length=512))[0] == 512
    assert model_context(SimpleNamespace(), SimpleNamespace(model_max_length=int(1e30))) == (None, "")


def test_hf_device_torch_cannot_use_is_an_error_naming_the_option(tiny_classifier: Path) -> None:
    with pytest.raises(EngineError, match=f"{tiny_classifier}: option device='garbage' cannot be used"):
        make_engine("hf", str(tiny_classifier), {"device": "garbage"})


@pytest.mark.parametrize("options, named", [
    ({"dtype": "half", "tensor_parallel_size": 2}, "dtype, tensor_parallel_size"),
    ({"gpu_memory_utilization": 0.1, "enforce_eager": True, "enable_prefix_caching": False, "load_format": "x"},
     "enable_prefix_caching, enforce_eager, gpu_memory_utilization, load_format"),
    ({"server": "true"}, "server"),
])
def test_server_side_options_with_base_url_are_refused(tiny_classifier: Path, options: dict, named: str) -> None:
    """They configure a server we start; against yours they were accepted and did nothing."""
    with pytest.raises(OptionError, match=f"option\\(s\\) {named} cannot be used with base_url"):
        make_engine("vllm", str(tiny_classifier), {"base_url": "http://127.0.0.1:9", **options})


def _labels_after_tag(engine: HFEngine, text: str) -> float:
    """P(good) against P(bad) computed by hand for the token after the step tag: the tokens
    up to the tag, with the candidate and the tag tokenised apart, through the model once."""
    import torch

    tag = engine.fmt.step_tag
    at = text.rindex(tag)
    ids = [*engine.tokenizer.encode(text[:at], add_special_tokens=False),
           *engine.tokenizer.encode(tag, add_special_tokens=False)]
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([ids])).logits.float()
    return float(torch.softmax(logits[0, -1, engine.label_ids], -1)[0])


@pytest.mark.parametrize("templated", [False, True])
def test_label_token_reads_the_label_right_after_the_tag(tiny_llama: Path, tmp_path: Path, templated: bool) -> None:
    """The label was read after the whole rendered text: after the template's end of turn (not
    where a Math-Shepherd PRM puts it), and with the tag merged into the candidate's last
    characters ("call th" + "e")."""
    from transformers import AutoTokenizer

    model = tiny_llama
    if templated:
        model = tmp_path / "templated"
        shutil.copytree(tiny_llama, model)
        tokenizer = AutoTokenizer.from_pretrained(model)
        tokenizer.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}</s>\n{% endfor %}"
        tokenizer.save_pretrained(model)
    engine = HFEngine(str(model), "label-token", fmt=PromptFormat(step_tag="e"))
    request = ScoreRequest(USER, None, "call th")
    text = engine.prompt_for(request)[0]
    assert text.endswith("call the</s>\n" if templated else "call the")
    ids = engine.encode_prompt(text)
    assert ids[-1:] == engine.tokenizer.encode("e", add_special_tokens=False) and "</s>" not in engine.tokenizer.decode(ids[-3:])
    assert engine.score([request]) == pytest.approx([_labels_after_tag(engine, text)], abs=1e-6)
