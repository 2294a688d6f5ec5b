"""The search task's metrics on hand-made score values, through Inspect's reducer."""

from __future__ import annotations

from typing import Any

import pytest
from inspect_ai.scorer import grouped
from pytest_inspect_evals.metrics import assert_agreeing_epochs_change_nothing, run_metrics

from toolprm_tasks.agent_search.loop import COUNTERS
from toolprm_tasks.inspect_adapter.search_task import search_metrics, success


def _value(**given: float) -> dict[str, float]:
    value = dict.fromkeys(COUNTERS, 0.0)
    value.update({"success": 0.0, "state_success": 0.0, "success_first": 0.0, "turns_solved_first": 0.0,
                  "success_majority": 0.0, "turns_solved_majority": 0.0})
    value.update(given)
    return value


# three conversations; numbers chosen by hand
SCORES = [
    _value(success=1, state_success=1, turns=2, turns_solved=2, steps=4, decisive_steps=2, agree_steps=2,
           first_agree_steps=1, majority_agree_steps=1, judge_calls=6, judge_unparsed=0, samples=16,
           distinct_candidates=10, success_first=0, turns_solved_first=1, success_majority=1,
           turns_solved_majority=2),
    _value(success=0, state_success=1, turns=3, turns_solved=1, steps=6, decisive_steps=3, agree_steps=1,
           first_agree_steps=2, majority_agree_steps=2, judge_calls=9, judge_unparsed=3, invalid_steps=1,
           samples=24, invalid_samples=2, distinct_candidates=12, step_limit_hits=1, success_first=1,
           turns_solved_first=3, success_majority=0, turns_solved_majority=1),
    _value(success=0, turns=1, turns_solved=0, steps=2, samples=8, distinct_candidates=2, fallback_steps=1),
]
METADATA = [{"category": "base"}, {"category": "base"}, {"category": "miss_func"}]


def test_pooled_metrics_by_hand() -> None:
    values = run_metrics([search_metrics(), grouped(success(), "category", all=False,
                                                    name_template="success_{group_name}")],
                         [[s] for s in SCORES], metadata=METADATA)
    assert values["success"] == pytest.approx(1 / 3)
    assert values["state_success"] == pytest.approx(2 / 3)
    assert values["turn_success"] == pytest.approx(3 / 6)  # 2 + 1 + 0 of 2 + 3 + 1 turns
    assert values["judge_agreement"] == pytest.approx(3 / 5)  # pooled over decisive steps, not 2/3 of means
    assert values["first_agreement"] == pytest.approx(3 / 5)
    assert values["invalid_step_rate"] == pytest.approx(1 / 12)
    assert values["invalid_sample_rate"] == pytest.approx(2 / 48)
    assert values["judge_parse_fail"] == pytest.approx(3 / 15)
    assert values["judge_calls_per_step"] == pytest.approx(15 / 12)
    assert values["distinct_per_step"] == pytest.approx(24 / 12)
    assert values["step_limit_hits"] == 1 and values["fallback_steps"] == 1
    # paired gains: success minus the reference's, per conversation: (1-0, 0-1, 0-0) and (0, 0, 0)
    assert values["gain_first"] == pytest.approx(0.0) and values["success_first"] == pytest.approx(1 / 3)
    assert values["gain_majority"] == pytest.approx(0.0)
    assert values["turn_gain_first"] == pytest.approx(3 / 6 - 4 / 6)
    assert values["success_base"] == pytest.approx(1 / 2) and values["success_miss_func"] == 0.0


def test_agreeing_epochs_change_nothing() -> None:
    assert_agreeing_epochs_change_nothing([search_metrics(), success()], SCORES, metadata=METADATA)


def test_no_reference_runs_no_gain() -> None:
    bare: list[dict[str, Any]] = [{k: v for k, v in s.items() if "first" not in k and "majority" not in k}
                                  for s in SCORES]
    values = run_metrics([search_metrics()], [[s] for s in bare], metadata=METADATA)
    assert "gain_first" not in values and values["success"] == pytest.approx(1 / 3)
