"""Real TRL steps on tiny random models (the `train` extra): both recipes train (finite loss,
weights move), and what they save is a model folder that the scoring engines, lm-eval, Inspect
and the search task load with no extra step."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="TRL is not installed: the `train` extra brings it (pip install "
                                  "'toolprm-tasks[train]'); `make test` installs it")

from tests.helpers import evaluate, metric  # noqa: E402
from tests.test_training import write_rebuilt_split  # noqa: E402
from toolprm_tasks import data  # noqa: E402
from toolprm_tasks.cli import main as cli_main  # noqa: E402

pytestmark = pytest.mark.slow
SEARCH_SAMPLE = "multi_turn_base_100"  # a short BFCL conversation (as in test_search_inspect)


def _search_corpus() -> list[str]:
    from toolprm_tasks.envs.bfcl import function_docs, load_conversations

    conversation = next(c for c in load_conversations(("base",)) if c.id == SEARCH_SAMPLE)
    return ([json.dumps(doc) for doc in function_docs(conversation.involved_classes)]
            + [m["content"] for turn in conversation.turns for m in turn])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("training")
    write_rebuilt_split(root / "rebuilt", copies=2)
    return {"TOOLPRMBENCH_REBUILT_DIR": str(root / "rebuilt"), "TOOLPRMBENCH_CACHE_DIR": str(root / "cache"),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@pytest.fixture
def data_in(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return env


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random causal Llama (no chat template) whose tokenizer also knows BFCL's tool specs."""
    from tests.conftest import _corpus
    from tests.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("base"), _corpus() + _search_corpus())


@pytest.fixture(scope="module")
def trained(base_model: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`toolprmbench train reward --max-steps 2` on the fixture split; its stdout."""
    import contextlib
    import io
    import os

    out = tmp_path_factory.mktemp("rm") / "out"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    data.loaded._LOADED.clear()
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = cli_main(["train", "reward", "--model", str(base_model), "--out", str(out), "--max-steps", "2",
                             "--learning-rate", "1e-3"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert code == 0, printed.getvalue()
    return out, printed.getvalue()


def test_reward_recipe_trains_and_saves_a_classifier_folder(trained: tuple[Path, str], base_model: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    out, printed = trained
    assert printed.strip().splitlines()[-1] == str(out)  # the last line is the folder
    assert not list(out.glob("checkpoint-*"))  # no --save-steps: no checkpoint (a second copy of the weights)
    record = json.loads((out / "toolprm_training.json").read_text())
    assert record["global_step"] == 2 and len(record["losses"]) == 2
    assert all(math.isfinite(loss) for loss in record["losses"])
    assert record["data"]["clusters_shared_with_test"] == {} and record["data"]["cases_equal_to_test"] == {}
    assert (record["seed"], record["data_seed"]) == (0, 0)  # the head and order; the data build
    # --max-steps is the run's length: the epochs decided nothing and are recorded as such
    assert record["settings"]["epochs"] is None and record["max_steps"] == 2
    assert "max_steps=2 (the run's length" in printed and "epochs=" not in printed
    fitted = {subset: sum(tally.values()) for subset, tally in record["fitting"].items()}
    assert fitted == {"bfcl": 6, "tooltalk": 6}  # every training pair, fitted one way or another
    config = AutoConfig.from_pretrained(out)
    assert config.architectures == ["LlamaForSequenceClassification"] and config.num_labels == 1
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert config.pad_token_id == tokenizer.pad_token_id is not None
    assert tokenizer.chat_template  # the plain template: the engines render as before
    trained_model = AutoModelForSequenceClassification.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(base_model)
    moved = {name: (param - trained_model.state_dict()[name]).abs().max().item()
             for name, param in base.state_dict().items() if name in trained_model.state_dict()}
    assert len(moved) > 10 and all(delta > 0 for delta in moved.values()), moved
    assert torch.isfinite(trained_model.score.weight).all()


def test_a_max_length_below_the_prompt_skeleton_is_one_message(data_in, base_model: Path, tmp_path: Path,
                                                                capsys) -> None:
    """It was an EngineError traceback (exit 1) naming max_length, not the option."""
    code = cli_main(["train", "reward", "--model", str(base_model), "--out", str(tmp_path / "o"), "--max-length", "5",
                     "--max-steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "--max-length 5: " in err and "cannot hold even the shortest" in err and "Traceback" not in err


def test_trls_own_tokenisation_of_the_export_is_what_the_recipe_trains_on(data_in, base_model: Path) -> None:
    from trl import RewardConfig, RewardTrainer

    from toolprm_tasks.training.export import reward_rows
    from toolprm_tasks.training.recipes import load_tokenizer, tokenized_pairs
    from toolprm_tasks.training.splits import training_split

    split = training_split("rebuilt")
    rows = reward_rows(split.cases)
    tokenizer, _ = load_tokenizer(str(base_model))
    ours, _ = tokenized_pairs(rows, {c.id: c for c in split.cases}, tokenizer, 4096)
    from datasets import Dataset

    trainer = RewardTrainer(model=str(base_model), processing_class=tokenizer, train_dataset=Dataset.from_list(
        [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows.rows]),
        args=RewardConfig(output_dir="unused", report_to="none", use_cpu=True, bf16=False, max_length=4096))
    theirs = trainer.train_dataset
    assert len(theirs) == len(ours)
    assert [r["chosen_ids"] for r in theirs] == [r["chosen_ids"] for r in ours]
    assert [r["rejected_ids"] for r in theirs] == [r["rejected_ids"] for r in ours]


def _independent_accuracy(model_dir: Path, cases: list[Any]) -> float:
    """Each candidate scored with plain transformers (the saved chat template, sigmoid of the
    one logit); a case is right when the chosen action scores higher (a tie is half)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from toolprm_tasks.core.render import render_action
    from toolprm_tasks.engines.base import context_text

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    def score(case: Any, action: Any) -> float:
        messages = [{"role": "user", "content": context_text(case.history, case.functions)},
                    {"role": "assistant", "content": render_action(action)}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            return float(torch.sigmoid(model(input_ids=ids).logits[0, 0]))

    right = [0.5 if (a := score(c, c.chosen)) == (b := score(c, c.rejected)) else float(a > b) for c in cases]
    return sum(right) / len(right)


def test_the_trained_model_scores_through_lm_eval_and_inspect(trained: tuple[Path, str], data_in) -> None:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from toolprm_tasks.tooltalk import tooltalk
    from toolprm_tasks.training.splits import load_split

    out, _ = trained
    held_out = load_split("tooltalk", "test").cases
    expected = _independent_accuracy(out, held_out)
    results = evaluate("toolprm-hf", ["toolprmbench_rebuilt_prm"], model_args=f"pretrained={out},kind=classifier")
    assert metric(results, "toolprmbench_rebuilt_tooltalk_prm", "acc") == pytest.approx(expected)
    bfcl_acc = metric(results, "toolprmbench_rebuilt_bfcl_prm", "acc")
    assert bfcl_acc == pytest.approx(_independent_accuracy(out, load_split("bfcl", "test").cases))
    model = get_model(f"toolprm-hf/{out}", kind="classifier", device="cpu", memoize=False)
    log = inspect_eval(tooltalk(protocol="pointwise", data="rebuilt"), model=model, display="none",
                       log_dir=str(out.parent / "logs"))[0]
    assert log.status == "success" and len(log.samples) == len(held_out)
    metrics = {n: m.value for s in log.results.scores for n, m in s.metrics.items()}
    assert metrics["acc"] == pytest.approx(expected)


def test_the_trained_model_is_a_judge_in_the_search_task(trained: tuple[Path, str], tmp_path: Path) -> None:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from toolprm_tasks.inspect_adapter.keys import RESULT_KEY
    from toolprm_tasks.search import toolprm_search

    out, _ = trained
    judge = get_model(f"toolprm-hf/{out}", kind="classifier", device="cpu", memoize=False)
    log = inspect_eval(toolprm_search(category="base", n=2, selector="judge", max_steps=2),
                       model=get_model("toolprm-replay/2"), model_roles={"judge": judge}, sample_id=SEARCH_SAMPLE,
                       log_dir=str(tmp_path), display="none")[0]
    assert log.status == "success", log.error
    record = log.samples[0].metadata[RESULT_KEY]
    judged = [s for turn in record["rollout"]["turns"] for s in turn["steps"] if len(s["candidates"]) > 1]
    assert record["judge_protocol"] == "pointwise" and judged
    assert all(0.0 <= score <= 1.0 for step in judged for score in step["judge"]["scores"])


@pytest.mark.vllm
def test_the_trained_model_loads_in_vllm(trained: tuple[Path, str]) -> None:
    pytest.importorskip("vllm", reason="vLLM is not installed here")
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.factory import make_engine
    from toolprm_tasks.engines.hf import HFEngine

    out, _ = trained
    request = ScoreRequest([{"role": "user", "content": "Email Ann."}], None, {"name": "SendEmail"})
    engine = make_engine("vllm", str(out), {"kind": "classifier", "max_length": 2048})
    assert engine.score([request])[0] == pytest.approx(HFEngine(str(out), "classifier").score([request])[0], abs=1e-3)


# --------------------------------------------------------------------------- GRPO


@pytest.fixture(scope="module")
def label_model(base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """The tiny model with `action_1` and `action_2` as single tokens of equal output weight: a
    random model that answers a label (sampling restricted to the two) has rewards that vary
    within a group, so GRPO has an advantage to learn from."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("labels")
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    tokenizer.add_tokens(["action_1", "action_2"])
    model = AutoModelForCausalLM.from_pretrained(base_model)
    model.resize_token_embeddings(len(tokenizer))
    labels = tokenizer.convert_tokens_to_ids(["action_1", "action_2"])
    with torch.no_grad():
        model.lm_head.weight[labels[1]] = model.lm_head.weight[labels[0]]
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder, labels


def test_grpo_recipe_trains_with_the_toolprm_reward_and_saves_a_generative_judge(
        label_model: tuple[Path, list[int]], data_in, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolprm_tasks.engines.hf import HFEngine
    from toolprm_tasks.training.recipes import train_grpo

    folder, labels = label_model
    vocabulary = len(AutoTokenizer.from_pretrained(folder))
    run = train_grpo(str(folder), tmp_path / "grpo", max_steps=2, device="cpu", num_generations=8, batch_size=8,
                     max_completion_length=1, learning_rate=1e-4,
                     generation_kwargs={"suppress_tokens": [i for i in range(vocabulary) if i not in labels]})
    record = run.record
    assert record["global_step"] == 2 and all(math.isfinite(v) for v in record["losses"])
    assert all(0.0 < reward < 1.0 for reward in record["rewards"])  # both labels drawn: the reward varied
    assert [e["parse_fail"] for e in record["log_history"] if "parse_fail" in e] == [0.0, 0.0]
    before, after = AutoModelForCausalLM.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(run.out)
    assert max((a - b).abs().max().item() for a, b in zip(after.parameters(), before.parameters(), strict=True)) > 0
    # a generative judge folder: the pairwise kind and lm-eval's `hf` backend load it as it is
    judge = HFEngine(str(run.out), "pairwise", max_length=4096)
    assert len(judge.generate(["Which action? action_1 or action_2"], max_tokens=2)) == 1
    results = evaluate("hf", ["toolprmbench_rebuilt_tooltalk"], model_args=f"pretrained={run.out},dtype=float32",
                       apply_chat_template=True, gen_kwargs="max_gen_toks=4", device="cpu")
    assert 0.0 <= metric(results, "toolprmbench_rebuilt_tooltalk", "acc") <= 1.0


def test_train_grpo_command_prints_the_folder_last(base_model: Path, data_in, tmp_path: Path, capsys) -> None:
    out = tmp_path / "g"
    assert cli_main(["train", "grpo", "--model", str(base_model), "--out", str(out), "--max-steps", "1",
                     "--max-completion-length", "4", "--subset", "tooltalk"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == str(out) and (out / "config.json").is_file()
    assert "grpo on cpu settings" in "\n".join(printed)
    assert cli_main(["train", "grpo", "--model", str(base_model), "--out", str(out)]) == 2  # never over a model
    assert "not an empty folder" in capsys.readouterr().err


def test_train_layers_freezes_the_lower_layers(base_model: Path, data_in, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from toolprm_tasks.training.recipes import TrainingError, train_reward

    run = train_reward(str(base_model), tmp_path / "top1", max_steps=2, device="cpu", train_layers=1,
                       learning_rate=1e-3, subsets=["tooltalk"])
    assert run.record["parameters"]["frozen"] > 0 and run.record["parameters"]["trainable"] > 0
    base = AutoModelForCausalLM.from_pretrained(base_model).state_dict()
    trained = AutoModelForSequenceClassification.from_pretrained(run.out).state_dict()
    assert (trained["model.layers.0.mlp.up_proj.weight"] == base["model.layers.0.mlp.up_proj.weight"]).all()
    assert (trained["model.embed_tokens.weight"] == base["model.embed_tokens.weight"]).all()
    assert (trained["model.layers.1.mlp.up_proj.weight"] != base["model.layers.1.mlp.up_proj.weight"]).any()
    from toolprm_tasks.training.recipes import freeze_below

    model = AutoModelForSequenceClassification.from_pretrained(run.out)
    assert freeze_below(model, 3)["frozen"] == 0  # more than the model has: all of it trains
    with pytest.raises(TrainingError, match="must be at least 1"):
        freeze_below(model, -1)


def test_a_run_that_diverges_is_refused_not_saved(base_model: Path, data_in, tmp_path: Path) -> None:
    """A learning rate that overflows the weights: the loss goes nan; no model (nor a checkpoint
    with nan weights) is saved, and the error says why."""
    from toolprm_tasks.training.recipes import TrainingError, train_reward

    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match=r"the run diverged \(logged loss 2 of 2 is nan\)"):
        train_reward(str(base_model), out, max_steps=2, device="cpu", learning_rate=1e39, subsets=["tooltalk"])
    assert not list(out.glob("*.safetensors")) and not list(out.glob("checkpoint-*"))
    # with --save-steps, the checkpoints it wrote with nan weights are removed too
    saved = tmp_path / "nan-saved"
    with pytest.raises(TrainingError, match=r"removed checkpoint-2"):
        train_reward(str(base_model), saved, max_steps=2, device="cpu", learning_rate=1e39, subsets=["tooltalk"],
                     save_steps=2)
    assert not list(saved.glob("checkpoint-*"))
