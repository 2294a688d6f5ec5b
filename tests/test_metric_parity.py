"""One definition of every number: lm-eval and Inspect report the same value under the same
name for the same predictions, per subset and on the combined task, and both equal values
derived by hand here (subsets of different sizes and parse-failure rates, so a pooled and an
unweighted mean differ)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from lm_eval.api.model import LM

from tests.helpers import evaluate
from toolprm_tasks.inspect_adapter.keys import VIEW_KEY

# The judge's answer per case, by the position it names (chosen is always shown first here):
# 1 right, 2 wrong, None unparseable. Sizes 4, 5, 6, 3 (tests/fixture_data.py).
PICKS: dict[str, list[int | None]] = {
    "gta": [1, 1, 1, None],
    "tooltalk": [1, 1, 1, 1, 1],
    "bfcl": [2, 2, 2, None, None, 1],
    "toolsandbox": [None, 1, 2],
}
# by hand, per subset: acc = right / cases; first_rate = (answers naming 1) / parsed answers;
# parse_fail = unparseable / cases
BY_HAND = {
    "gta": {"acc": 3 / 4, "first_rate": 3 / 3, "parse_fail": 1 / 4},
    "tooltalk": {"acc": 5 / 5, "first_rate": 5 / 5, "parse_fail": 0 / 5},
    "bfcl": {"acc": 1 / 6, "first_rate": 1 / 4, "parse_fail": 2 / 6},
    "toolsandbox": {"acc": 1 / 3, "first_rate": 1 / 2, "parse_fail": 1 / 3},
}
# the combined task: the unweighted mean of the four subsets (the paper's AVG rule), e.g. acc
# (3/4 + 1 + 1/6 + 1/3) / 4 = 0.5625, where pooling all 18 trials would give 10/18 = 0.556
COMBINED = {name: sum(values[name] for values in BY_HAND.values()) / 4 for name in ("acc", "first_rate", "parse_fail")}


def _answer(case_id: str) -> str:
    subset, index = case_id.rsplit("-", 1)
    pick = PICKS[subset][int(index)]
    return "I cannot tell." if pick is None else json.dumps({"rationale": "r", "chosen action": f"Action{pick}"})


class _ScriptedLM(LM):
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        return [_answer(request.doc["case_id"]) for request in requests]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise NotImplementedError

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError


def _inspect_output(input, tools, tool_choice, config) -> ModelOutput:  # noqa: A002 - Inspect's signature
    view = json.loads(input[-1].metadata[VIEW_KEY])
    output = ModelOutput.from_content(model="mockllm", content=_answer(view["trial_id"]))
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return output


def test_both_frameworks_report_the_hand_derived_numbers(data_env, tmp_path: Path) -> None:
    from toolprm_tasks.toolprmbench import toolprmbench

    lm = evaluate(_ScriptedLM(), ["toolprmbench"], {"order": "chosen_first"})
    results = lm["results"]
    log = inspect_eval(toolprmbench(order="chosen_first"), model=get_model("mockllm/model",
                       custom_outputs=_inspect_output), log_dir=str(tmp_path), display="none")[0]
    assert log.status == "success"
    inspect_metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}

    for subset, expected in BY_HAND.items():
        for name, value in expected.items():
            assert results[f"toolprmbench_{subset}"][f"{name},none"] == pytest.approx(value), (subset, name)
        assert inspect_metrics[f"acc_{subset}"] == pytest.approx(expected["acc"]), subset
    for name, value in COMBINED.items():
        assert results["toolprmbench"][f"{name},none"] == pytest.approx(value), name
        assert inspect_metrics[name] == pytest.approx(value), name
    assert inspect_metrics["avg"] == pytest.approx(COMBINED["acc"])
    assert results["toolprmbench"]["alias"] == "toolprmbench"
    assert lm["versions"]["toolprmbench_bfcl"] == log.eval.task_version == "12-A"


def test_a_single_subset_pools_its_trials(data_env, tmp_path: Path) -> None:
    from toolprm_tasks.bfcl import bfcl

    lm = evaluate(_ScriptedLM(), ["toolprmbench_bfcl"], {"order": "chosen_first"})
    log = inspect_eval(bfcl(order="chosen_first"), model=get_model("mockllm/model", custom_outputs=_inspect_output),
                       log_dir=str(tmp_path), display="none")[0]
    inspect_metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    for name, value in BY_HAND["bfcl"].items():
        assert lm["results"]["toolprmbench_bfcl"][f"{name},none"] == pytest.approx(value)
        assert inspect_metrics[name] == pytest.approx(value)
    # per error type (bfcl fixture: wrong_params cases 0, 2, 3 picked 2, 2, None: 0 right of 3)
    assert inspect_metrics["acc_wrong_params"] == lm["results"]["toolprmbench_bfcl"]["acc_wrong_params,none"] == 0.0


def test_truncated_is_the_same_in_both_frameworks(data_env, tmp_path: Path) -> None:
    """A baseline judge (no context limit) says it never shortens: `truncated` is 0 in both
    frameworks; a scoring provider that says nothing gives NaN in both, never a guessed 0."""
    import math

    from toolprm_tasks.gta import gta

    lm = evaluate("toolprm-baseline", ["toolprmbench_gta_pointwise"], {}, model_args="judge=longer")
    assert lm["results"]["toolprmbench_gta_pointwise"]["truncated,none"] == 0.0
    log = inspect_eval(gta(protocol="pointwise"), model="toolprm-baseline/longer", log_dir=str(tmp_path),
                       display="none")[0]
    assert {n: m.value for s in log.results.scores for n, m in s.metrics.items()}["truncated"] == 0.0

    def silent(input, tools, tool_choice, config):  # noqa: A002 - a scorer that does not say
        output = ModelOutput.from_content(model="mockllm", content="")
        output.metadata = {"toolprm_score": 0.5}
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    log = inspect_eval(gta(protocol="pointwise"), model=get_model("mockllm/model", custom_outputs=silent),
                       log_dir=str(tmp_path), display="none")[0]
    assert math.isnan({n: m.value for s in log.results.scores for n, m in s.metrics.items()}["truncated"])
