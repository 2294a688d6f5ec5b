"""Inspect metrics through the real epoch reducer (pytest-inspect-evals), and the scorer alone."""

from __future__ import annotations

import pytest
from inspect_ai.scorer import Score
from pytest_inspect_evals.metrics import assert_agreeing_epochs_change_nothing, run_metrics

from toolprm_tasks.inspect_adapter.scorer import (
    acc,
    acc_cluster_se,
    consistency,
    first_rate,
    parse_fail,
    toolprm_metrics,
    toolprm_scorer,
    truncated,
)


def _meta(case: str, position: int, subset: str = "bfcl", error: str = "wrong_tool", cluster: str = "") -> dict:
    return {"trial_id": f"{case}/{position}", "case_id": case, "subset": subset,
            "cluster": f"{subset}/{cluster or case}", "error_type": error, "chosen_position": position}


# Two cases in both orders: case a always answered "first" (right once), case b right twice;
# plus one unparseable trial of case c.
SCORES = [
    {"correct": 1.0, "first": 1.0, "parsed": 1.0},
    {"correct": 0.0, "first": 1.0, "parsed": 1.0},
    {"correct": 1.0, "first": 1.0, "parsed": 1.0},
    {"correct": 1.0, "first": 0.0, "parsed": 1.0},
    {"correct": 0.0, "first": 0.0, "parsed": 0.0},
]
# subset bfcl: case a (its two trials in two clusters); subset gta: cases b and c
METADATA = [_meta("a", 1, cluster="a1"), _meta("a", 2, cluster="a2"), _meta("b", 1, "gta", "wrong_params"),
            _meta("b", 2, "gta", "wrong_params"), _meta("c", 1, "gta")]


def test_metric_values_derived_by_hand() -> None:
    values = run_metrics([acc(), consistency(), first_rate(), parse_fail(), acc_cluster_se()], [[s] for s in SCORES],
                         metadata=METADATA)
    # per subset: bfcl acc 1/2, consistency 0 (a wrong once), first_rate 2/2, parse_fail 0;
    # gta acc 2/3, consistency 1 (b right twice; c seen in one order only), first_rate 1/2, parse_fail 1/3;
    # over the two subsets every one is the unweighted mean of the subsets' values
    assert values["acc"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert values["consistency"] == pytest.approx((0 + 1) / 2)
    assert values["first_rate"] == pytest.approx((1 + 1 / 2) / 2)
    assert values["parse_fail"] == pytest.approx((0 + 1 / 3) / 2)
    # clustered SE per subset (CR1, G/(G-1) with G=2): bfcl values 1, 0 in two clusters: sqrt(2 * 0.5) / 2;
    # gta clusters {b: 1, 1} and {c: 0} around 2/3: sqrt(2 * ((2/3)^2 + (2/3)^2)) / 3; AVG's SE combines them
    se_bfcl, se_gta = (2 * (0.25 + 0.25)) ** 0.5 / 2, (2 * (4 / 9 + 4 / 9)) ** 0.5 / 3
    assert values["acc_cluster_se"] == pytest.approx((se_bfcl**2 + se_gta**2) ** 0.5 / 2)


def test_grouped_metrics_give_the_papers_avg() -> None:
    values = run_metrics(toolprm_metrics(by_subset=True), [[s] for s in SCORES], metadata=METADATA)
    assert values["acc_bfcl"] == pytest.approx(1 / 2)
    assert values["acc_gta"] == pytest.approx(2 / 3)
    assert values["avg"] == values["acc"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # unweighted, not 3/5
    # per error type: pooled over that type's trials, across subsets (a, c wrong_tool: 1, 0, 0)
    assert values["acc_wrong_params"] == pytest.approx(1.0)
    assert values["acc_wrong_tool"] == pytest.approx(1 / 3)


def test_truncated_is_the_share_of_shortened_trials() -> None:
    flags = [True, False, False, True, False]  # the scoring engine shortened trials 1 and 4
    scores = [Score(value=value, metadata={"truncated": flag}) for value, flag in zip(SCORES, flags, strict=True)]
    # bfcl 1 of 2 trials, gta 1 of 3: over the two subsets the unweighted mean of the shares
    expected = (1 / 2 + 1 / 3) / 2
    assert run_metrics([truncated()], [[s] for s in scores], metadata=METADATA)["truncated"] == pytest.approx(expected)
    # two epochs of a deterministic engine agree: the share is the same
    assert run_metrics([truncated()], [[s, s] for s in scores], metadata=METADATA)["truncated"] == pytest.approx(expected)
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
