"""The search task through Inspect: arguments, the replay policy, judges of every kind, hostile
judges and policies, the log's record; the command line with a pointwise engine judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from tests.helpers import cli, log_metrics
from tests.test_search_core import _simulate
from toolprm_tasks.core.render import render_action
from toolprm_tasks.envs.bfcl import load_conversations
from toolprm_tasks.inspect_adapter.keys import RESULT_KEY
from toolprm_tasks.search import toolprm_search

REPO = Path(__file__).resolve().parents[1]


def _records(log: EvalLog) -> list[dict[str, Any]]:
    return [sample.metadata[RESULT_KEY] for sample in log.samples]


def _steps(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for turn in record["rollout"]["turns"] for step in turn["steps"]]


def _run(task, model, tmp_path: Path, **kwargs: Any) -> EvalLog:
    log = inspect_eval(task, model=model, log_dir=str(tmp_path), display="none", **kwargs)[0]
    assert log.status == "success", log.error
    return log


@pytest.mark.parametrize("args", [
    {"category": "simple"}, {"category": "base,parallel"}, {"n": 0}, {"n": -2}, {"max_steps": 0},
    {"selector": "best"}, {"select": "judge"}, {"unknown": 1}, {"judge_protocol": "scores"}, {"prompt": "mine"},
    # found in review: accepted, then ran
    {"temperature": -1}, {"temperature": "hot"}, {"max_tokens": -5}, {"seed": "abc"}, {"seed": 1.5},
    {"judge_max_tokens": 0}, {"both_orders": "maybe"}, {"compare": "maybe"}, {"n": "three"},
    # found by a probe: a TypeError, an AttributeError, and all categories for an empty value
    {"category": 1}, {"category": ["base", None]}, {"category": None}, {"category": " "}, {"category": []},
])
def test_bad_arguments_are_errors_before_anything_runs(args: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(args)).split("_")[0]):
        toolprm_search(**args)


def test_numbers_given_as_text_are_read_as_numbers() -> None:
    """Inspect hands `-T` values over as YAML reads them; Python callers may pass text."""
    task = toolprm_search(category="base", n="3", temperature="0", seed="7", both_orders="true")
    assert {k: task.metadata[k] for k in ("n", "temperature", "seed", "both_orders")} == \
        {"n": 3, "temperature": 0.0, "seed": 7, "both_orders": True}


JUDGE_NEEDED = "toolprm_search: selector=judge needs a judge model: bind one with --model-role judge=MODEL"


def test_select_judge_without_a_judge_fails_at_task_start(tmp_path: Path) -> None:
    """Found in review: it failed only once samples ran. Inspect binds the roles before it calls
    the task function (as `inspect eval` does), so the solver's init sees there is no judge."""
    from toolprm_tasks.engines.factory import OptionError

    calls: list[str] = []
    policy = get_model("mockllm/model", custom_outputs=lambda *args: calls.append("policy") or _mock(["Done."])[0])
    with pytest.raises(ValueError, match=JUDGE_NEEDED):
        inspect_eval(toolprm_search, task_args={"category": "base", "selector": "judge"}, model=policy,
                     log_dir=str(tmp_path), display="none", limit=1)
    assert calls == [] and list_eval_logs(str(tmp_path)) == []  # nothing ran, no log was started
    # with a judge bound the same call runs (the check sees the run's roles)
    log = _run(toolprm_search, get_model("toolprm-replay/2"), tmp_path, limit=1,
               task_args={"category": "base", "selector": "judge", "n": 2, "max_steps": 2, "compare": False},
               model_roles={"judge": get_model("toolprm-baseline/longer")})
    assert _records(log)[0]["selector"] == "judge"
    # a task object built before eval() cannot see the roles: the first thing each sample does
    log = inspect_eval(toolprm_search(category="base", selector="judge"), model=policy, log_dir=str(tmp_path),
                       display="none", limit=1)[0]
    assert log.status == "error" and JUDGE_NEEDED in log.error.message and calls == []
    with pytest.raises(OptionError, match="toolprm_search: task parameter temperature must be a number >= 0, "
                                          "got -1"):
        inspect_eval(toolprm_search, task_args={"temperature": -1}, model=policy, log_dir=str(tmp_path),
                     display="none")


@pytest.mark.slow
def test_replay_oracle_and_gold_first_solve_everything_with_one_request_per_step(tmp_path: Path) -> None:
    log = _run(toolprm_search(category="base", n=3, selector="oracle"), get_model("toolprm-replay/3"), tmp_path, limit=2)
    metrics = log_metrics(log)
    assert metrics["success"] == 1.0 and metrics["turn_success"] == 1.0 and metrics["success_base"] == 1.0
    # the paired gain over the policy alone, from the same log
    assert metrics["gain_first"] == pytest.approx(1.0 - metrics["success_first"])
    for record in _records(log):
        counts = record["rollout"]["counts"]
        assert counts["policy_requests"] == counts["steps"]  # num_choices: one request per step
        assert set(record["references"]) == {"first", "majority"}
        assert all(step["matched_gold"] for step in _steps(record))
    gold_first = get_model("toolprm-replay/3", order="gold_first")
    assert log_metrics(_run(toolprm_search(category="base", n=3, selector="first"), gold_first, tmp_path,
                         limit=2))["success"] == 1.0


@pytest.mark.slow
def test_replay_first_matches_the_independent_simulation(tmp_path: Path) -> None:
    ids = ["multi_turn_base_0", "multi_turn_base_7", "multi_turn_miss_param_5"]
    log = _run(toolprm_search(category="base,miss_param", selector="first"), get_model("toolprm-replay/3"), tmp_path,
               sample_id=ids)
    conversations = {c.id: c for c in load_conversations(("base", "miss_param"))}
    observed = {s.id: s.scores["search_scorer"].value["success"] for s in log.samples}
    assert observed == {cid: float(_simulate(conversations[cid], 3, "first")) for cid in ids}


def test_pairwise_judge_runs_a_knockout_in_both_orders(tmp_path: Path) -> None:
    task = toolprm_search(category="base", n=3, selector="judge", judge_protocol="pairwise", both_orders=True)
    log = _run(task, get_model("toolprm-replay/3"), tmp_path, limit=1,
               model_roles={"judge": get_model("toolprm-baseline/longer")})
    record = _records(log)[0]
    assert record["judge_protocol"] == "pairwise"
    steps = _steps(record)
    # a knockout over k distinct candidates is k-1 comparisons, each asked twice
    assert record["rollout"]["counts"]["judge_calls"] == sum(2 * (len(s["candidates"]) - 1) for s in steps)
    assert log_metrics(log)["judge_parse_fail"] == 0.0
    # `longer` prefers the longer rendering (a consistent judge): the knockout ends on the longest
    for step in steps:
        lengths = [len(render_action(c["action"]["value"])) for c in step["candidates"]]
        assert lengths[step["chosen"]] == max(lengths)


def test_search_solver_and_scorer_in_a_task_of_ones_own(tmp_path: Path) -> None:
    """The solver with explicit settings on one conversation, as another task would use it."""
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset

    from toolprm_tasks.inspect_adapter.search_task import _sample, search_scorer, search_solver

    conversation = next(c for c in load_conversations(("base",)) if c.id == "multi_turn_base_100")
    solver = search_solver(n=2, temperature=None, selector="oracle", judge_protocol_name="auto", both_orders=False,
                           prompt="standard", max_steps=5, seed=0, max_tokens=64, judge_max_tokens=64,
                           compare=False, categories=["base"])
    task = Task(dataset=MemoryDataset([_sample(conversation)]), solver=solver, scorer=search_scorer())
    log = _run(task, get_model("toolprm-replay/2"), tmp_path)
    record = _records(log)[0]
    assert record["selector"] == "oracle" and record["references"] == {}
    # get_stock_info(NVDA) then fund_account(2203.4): two turns of one call each, then a reply
    assert [t["verdict"]["calls"] for t in record["rollout"]["turns"]] == [1, 1]
    assert log.samples[0].scores["search_scorer"].value["success"] == 1.0
    assert len(log.samples[0].messages) >= 6  # the chosen trajectory, for `inspect view`


def _mock(texts: list[str]) -> list[ModelOutput]:
    outputs = []
    for text in texts:
        output = ModelOutput.from_content(model="mockllm", content=text)
        output.usage = ModelUsage(input_tokens=5, output_tokens=2, total_tokens=7)
        outputs.append(output)
    return outputs


def test_a_judge_without_usable_answers_falls_back_and_is_counted(tmp_path: Path) -> None:
    judge = get_model("mockllm/model", custom_outputs=_mock(["I cannot decide between them."] * 500))
    log = _run(toolprm_search(category="base", n=3, selector="judge"), get_model("toolprm-replay/3"), tmp_path,
               limit=1, model_roles={"judge": judge})
    record = _records(log)[0]
    judged = [s for s in _steps(record) if len(s["candidates"]) > 1]
    counts = record["rollout"]["counts"]
    assert counts["fallback_steps"] == len(judged) > 0
    assert all(s["decided_by"].startswith("fallback:majority") and s["chosen"] == s["majority"] for s in judged)
    metrics = log_metrics(log)
    assert metrics["judge_parse_fail"] == 1.0 and metrics["judge_tokens"] == 7 * counts["judge_calls"]


def test_a_policy_without_num_choices_is_asked_once_per_candidate(tmp_path: Path) -> None:
    # mockllm answers one choice per request: the task asks again for the rest; its answers
    # are replies, so every turn ends after one step, with no call made
    policy = get_model("mockllm/model", custom_outputs=_mock(["Done, all set."] * 200))
    log = _run(toolprm_search(category="base", n=3, selector="majority"), policy, tmp_path,
               sample_id="multi_turn_base_0")
    counts = _records(log)[0]["rollout"]["counts"]
    assert counts["steps"] == 4 and counts["policy_requests"] == 12 and counts["policy_tokens"] == 12 * 7
    assert log_metrics(log)["turn_success"] == 0.0  # every turn of this conversation needs calls


def test_invalid_policy_answers_are_failed_steps(tmp_path: Path) -> None:
    policy = get_model("mockllm/model", custom_outputs=_mock(['{"name": "cd", "parameters": {'] * 50))
    log = _run(toolprm_search(category="base", selector="first"), policy, tmp_path, sample_id="multi_turn_base_0")
    metrics = log_metrics(log)
    assert metrics["invalid_step_rate"] == 1.0 and metrics["invalid_sample_rate"] == 1.0
    assert metrics["success"] == 0.0


# Python literals a call string may hold that JSON cannot: each once parsed as a call, then
# crashed rendering (json.dumps) and ended the eval with status error under every selector
NOT_JSON_ANSWERS = ["cd(folder={'a', 'b'})", "cd(folder=b'x')", "cd(folder=1j)", "cd(folder=...)"]


@pytest.mark.parametrize("selector", ["first", "random", "majority", "oracle", "judge"])
def test_calls_with_arguments_json_cannot_hold_are_invalid_steps(selector: str, tmp_path: Path) -> None:
    policy = get_model("mockllm/model", custom_outputs=_mock([*NOT_JSON_ANSWERS, "All done."] * 100))
    roles = {"judge": get_model("toolprm-baseline/longer")} if selector == "judge" else None
    log = _run(toolprm_search(category="base", n=5, selector=selector, compare=False), policy, tmp_path,
               sample_id="multi_turn_base_0", model_roles=roles)
    record = _records(log)[0]
    steps = _steps(record)
    counts = record["rollout"]["counts"]
    hostile = [c for s in steps for c in s["candidates"] if c["action"]["value"] in NOT_JSON_ANSWERS]
    assert hostile and all(c["action"]["kind"] == "invalid" and "not JSON values" in c["action"]["why"]
                           for c in hostile)
    samples = [text for s in steps for text in s["samples"]]
    assert counts["invalid_samples"] == sum(1 for text in samples if text in NOT_JSON_ANSWERS) > 0
    chosen_invalid = sum(1 for s in steps if s["candidates"][s["chosen"]]["action"]["kind"] == "invalid")
    assert counts["invalid_steps"] == chosen_invalid
    metrics = log_metrics(log)
    assert metrics["invalid_sample_rate"] == pytest.approx(counts["invalid_samples"] / counts["samples"])
    assert metrics["invalid_step_rate"] == pytest.approx(chosen_invalid / counts["steps"])
    if selector in ("first", "majority"):  # the policy's first answer, or the largest class: invalid
        assert chosen_invalid == counts["steps"] == 4


# A conversation with few tool specs (TradingBot only, 13k characters), so that a tiny model
# scores its steps in seconds on a CPU: get_stock_info(NVDA), then fund_account(2203.4).
SMALL = "multi_turn_base_100"


@pytest.fixture(scope="module")
def bfcl_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random sequence classifier whose tokenizer is trained on BFCL's tool specs (the
    shared fixture's tokenizer, trained on other text, needs more than its 8k context here)."""
    from tests.tiny_model import build_tiny_llama
    from toolprm_tasks.envs.bfcl import function_docs

    conversation = next(c for c in load_conversations(("base",)) if c.id == SMALL)
    corpus = [json.dumps(doc) for doc in function_docs(conversation.involved_classes)]
    corpus += [m["content"] for turn in conversation.turns for m in turn]
    return build_tiny_llama(tmp_path_factory.mktemp("bfcl-classifier"), corpus, head="classifier")


@pytest.mark.slow
def test_pointwise_engine_judge_scores_each_step_in_one_engine_call(bfcl_classifier: Path, tmp_path: Path) -> None:
    judge = get_model(f"toolprm-hf/{bfcl_classifier}", kind="classifier", device="cpu")
    batches: list[int] = []
    run = judge.api.scores.run
    judge.api.scores.run = lambda items: (batches.append(len(items)), run(items))[1]
    log = _run(toolprm_search(category="base", n=3, selector="judge", max_steps=3), get_model("toolprm-replay/3"),
               tmp_path, sample_id=SMALL, max_samples=1, model_roles={"judge": judge})
    record = _records(log)[0]
    assert record["judge_protocol"] == "pointwise"
    judged = [s for s in _steps(record) if len(s["candidates"]) > 1]
    assert batches == [len(s["candidates"]) for s in judged]  # one batch per judged step, all its candidates
    for step in judged:
        scores = step["judge"]["scores"]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores[step["chosen"]] == max(scores)


@pytest.mark.cli
def test_cli_replay_policy_with_a_pointwise_engine_judge(bfcl_classifier: Path, tmp_path: Path) -> None:
    role = f"judge={{model: 'toolprm-hf/{bfcl_classifier}', model_args: {{kind: classifier, device: cpu}}}}"
    cli("inspect", "eval", "toolprm_tasks/search.py", "--model", "toolprm-replay/2", "--model-role", role,
        "-T", "n=2", "-T", "category=base", "-T", "max_steps=3", "--sample-id", SMALL, "--log-dir", str(tmp_path),
        cwd=REPO)
    log = read_eval_log(list_eval_logs(str(tmp_path))[0])
    assert log.status == "success" and len(log.samples) == 1
    metrics = log_metrics(log)
    records = _records(log)
    assert all(r["judge_protocol"] == "pointwise" and r["selector"] == "judge" for r in records)
    assert metrics["judge_calls"] == sum(len(s["candidates"]) for r in records for s in _steps(r)
                                         if len(s["candidates"]) > 1) > 0
    assert {"gain_first", "gain_majority", "judge_agreement", "success_base"} <= set(metrics)
    assert log.eval.metadata["n"] == 2 and log.eval.metadata["max_steps"] == 3


def test_a_renamed_parameter_names_the_version_that_renamed_it() -> None:
    """`-T select` was renamed in search version 2-A, `-T seed` of the benchmark tasks in task
    version 3-A: the refusal names that version, not the current one (which moves on)."""
    with pytest.raises(ValueError, match=r"select is now selector \(search version 2-A\): -T selector=judge"):
        toolprm_search(select="judge")
