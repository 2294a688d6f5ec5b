"""Inspect metrics through the real epoch reducer (pytest-inspect-evals), and the scorer alone."""

from __future__ import annotations

import pytest
from inspect_ai.scorer import Score
from pytest_inspect_evals.metrics import assert_agreeing_epochs_change_nothing, run_metrics

from scorers.inspect_adapter import (
    acc,
    acc_cluster_se,
    consistency,
    first_rate,
    parse_fail,
    toolprm_metrics,
    toolprm_scorer,
    truncated,
)


def _meta(case: str, position: int, subset: str = "bfcl", error: str = "wrong_tool") -> dict:
    return {"trial_id": f"{case}/{position}", "case_id": case, "subset": subset, "cluster": f"{subset}/{case}",
            "error_type": error, "chosen_position": position}


# Two cases in both orders: case a always answered "first" (right once), case b right twice;
# plus one unparseable trial of case c.
SCORES = [
    {"correct": 1.0, "first": 1.0, "parsed": 1.0},
    {"correct": 0.0, "first": 1.0, "parsed": 1.0},
    {"correct": 1.0, "first": 1.0, "parsed": 1.0},
    {"correct": 1.0, "first": 0.0, "parsed": 1.0},
    {"correct": 0.0, "first": 0.0, "parsed": 0.0},
]
METADATA = [_meta("a", 1), _meta("a", 2), _meta("b", 1, "gta", "wrong_params"), _meta("b", 2, "gta", "wrong_params"),
            _meta("c", 1, "gta")]


def test_metric_values_derived_by_hand() -> None:
    values = run_metrics([acc(), consistency(), first_rate(), parse_fail(), acc_cluster_se()], [[s] for s in SCORES],
                         metadata=METADATA)
    assert values["acc"] == pytest.approx(3 / 5)
    assert values["consistency"] == pytest.approx(1 / 2)  # b yes, a no; c was seen in one order only
    assert values["first_rate"] == pytest.approx(3 / 4)
    assert values["parse_fail"] == pytest.approx(1 / 5)
    assert values["acc_cluster_se"] > 0


def test_grouped_metrics_give_the_papers_avg() -> None:
    values = run_metrics(toolprm_metrics(by_subset=True), [[s] for s in SCORES], metadata=METADATA)
    assert values["acc_bfcl"] == pytest.approx(1 / 2)
    assert values["acc_gta"] == pytest.approx(2 / 3)
    assert values["avg"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # unweighted, not 3/5
    assert values["acc_wrong_params"] == pytest.approx(1.0)


def test_truncated_is_the_share_of_shortened_trials() -> None:
    flags = [True, False, False, True, False]  # the scoring engine shortened trials 1 and 4
    scores = [Score(value=value, metadata={"truncated": flag}) for value, flag in zip(SCORES, flags, strict=True)]
    assert run_metrics([truncated()], [[s] for s in scores], metadata=METADATA)["truncated"] == pytest.approx(2 / 5)
    # two epochs of a deterministic engine agree: the share is the same
    assert run_metrics([truncated()], [[s, s] for s in scores], metadata=METADATA)["truncated"] == pytest.approx(2 / 5)
    # the pointwise tasks carry it; the other protocols do not
    assert "truncated" in run_metrics(toolprm_metrics(False, pointwise=True), [[s] for s in scores], metadata=METADATA)
    assert "truncated" not in run_metrics(toolprm_metrics(False), [[s] for s in scores], metadata=METADATA)


def test_agreeing_epochs_change_nothing() -> None:
    assert_agreeing_epochs_change_nothing(
        [acc(), acc_cluster_se(), consistency(), first_rate(), parse_fail()], SCORES, metadata=METADATA)


def test_scorer_alone_parses_and_scores() -> None:
    import asyncio

    from inspect_ai.model import ChatMessageUser, ModelOutput
    from inspect_ai.scorer import Target
    from inspect_ai.solver import TaskState

    state = TaskState(model="m/m", sample_id="a/1", epoch=1, input=[ChatMessageUser(content="q")], messages=[],
                      metadata=_meta("a", 2))
    state.output = ModelOutput.from_content(model="m", content='{"chosen action": "Action2"}')
    score = asyncio.run(toolprm_scorer("generative", ("Action1", "Action2"))(state, Target("Action2")))
    assert score.value == {"correct": 1.0, "first": 0.0, "parsed": 1.0}
    assert score.answer == "Action2"
