"""The framework-free scoring core: parsing, picks and metrics, derived independently."""

from __future__ import annotations

import math
import random

import pytest

from scorers.core import (
    TokenLogprob,
    aggregate,
    cluster_robust_se,
    first_from_scores,
    first_from_token_logprobs,
    normalise_loglikelihood,
    outcome,
    parse_pairwise_answer,
)


@pytest.mark.parametrize("text, pick", [
    ('{"rationale": "x", "chosen action": "Action2"}', 2),
    ('```json\n{"rationale": "Action1 is wrong", "chosen action": "Action2"}\n```', 2),
    ('{"rationale": "...", "winning_action": "action_1"}', 1),
    ("action_2", 2), ("Action 1", 1), ("Action1.", 1), ("**Action2**", 2), ("2", 2),
    ("<think>Action1 looks right... no wait</think>\nAction2", 2),
    ("<think>hmm</think>{\"chosen action\": \"Action 1\"}", 1),
    ("Action1 calls the wrong tool, so the chosen action: Action2", 2),
    ("The final answer is action_1.", 1),
    ("Only Action2 uses the right parameters.", 2),
    ('{"chosen_action": "Action-2"}', 2),
])
def test_parse_answers(text: str, pick: int) -> None:
    assert parse_pairwise_answer(text).pick == pick


@pytest.mark.parametrize("text, how", [
    ("", "empty"), (None, "empty"), ("I cannot decide.", "no_label"),
    ("Action1 and Action2 are both plausible.", "ambiguous"),
    ("<think>Action1 is clearly", "unclosed_think"),
    ("Action12", "no_label"),
])
def test_unparseable_answers_are_counted(text, how: str) -> None:
    parsed = parse_pairwise_answer(text)
    assert parsed.pick is None and parsed.how == how


def test_scores_ties_and_norm() -> None:
    assert first_from_scores(-1.0, -2.0) == 1.0
    assert first_from_scores(-2.0, -1.0) == 0.0
    assert first_from_scores(0.3, 0.3) == 0.5
    assert first_from_scores(float("nan"), 1.0) is None
    assert normalise_loglikelihood(-10.0, "abcde", "char") == -2.0
    assert normalise_loglikelihood(-10.0, "abcde", "none") == -10.0


def test_label_logprobs_from_generated_tokens() -> None:
    tokens = [TokenLogprob("action", -0.1, [("action", -0.1), ("Action", -2.0)]),
              TokenLogprob("_", -0.01, [("_", -0.01)]),
              TokenLogprob("2", -0.4, [("2", -0.4), ("1", -1.2)])]
    assert first_from_token_logprobs(tokens, ("action_1", "action_2")) == 0.0
    # label 2 missing from the top list: label 1 wins
    tokens[2] = TokenLogprob("1", -0.1, [("1", -0.1), ("x", -3.0)])
    assert first_from_token_logprobs(tokens, ("action_1", "action_2")) == 1.0
    assert first_from_token_logprobs([TokenLogprob("Hello", -0.1, [])], ("Action1", "Action2")) is None


def _meta(i: int, position: int, case: str | None = None, cluster: str = "c", error: str = "wrong_tool") -> dict:
    return {"trial_id": f"t{i}", "case_id": case or f"case{i}", "subset": "bfcl", "cluster": cluster,
            "error_type": error, "chosen_position": position}


def test_always_first_under_both_orders() -> None:
    outcomes = [outcome(_meta(2 * k + j, pos, case=f"case{k}", cluster=f"c{k % 3}"), 1.0)
                for k in range(10) for j, pos in enumerate((1, 2))]
    metrics = aggregate(outcomes)
    assert metrics["acc"] == 0.5
    assert metrics["consistency"] == 0.0
    assert metrics["first_rate"] == 1.0
    assert metrics["parse_fail"] == 0.0
    assert metrics["acc_wrong_tool"] == 0.5
    assert math.isnan(metrics["acc_wrong_params"])


def test_unparseable_is_wrong_and_excluded_from_first_rate() -> None:
    outcomes = [outcome(_meta(0, 1), None), outcome(_meta(1, 1), 1.0), outcome(_meta(2, 2), 1.0)]
    metrics = aggregate(outcomes)
    assert metrics["acc"] == pytest.approx(1 / 3)
    assert metrics["parse_fail"] == pytest.approx(1 / 3)
    assert metrics["first_rate"] == 1.0
    assert math.isnan(metrics["consistency"])  # no case seen in both orders


def test_tie_counts_half() -> None:
    metrics = aggregate([outcome(_meta(0, 2), 0.5)])
    assert metrics["acc"] == 0.5 and metrics["first_rate"] == 0.5


def test_cluster_robust_se_against_a_direct_formula() -> None:
    rng = random.Random(3)
    values = [float(rng.random() < 0.6) for _ in range(40)]
    clusters = [f"g{i // 4}" for i in range(40)]
    n, mean = len(values), sum(values) / len(values)
    groups = sorted(set(clusters))
    # CR1 sandwich for the intercept-only regression: (X'X)^-1 sum_g (X_g'e_g)^2 (X'X)^-1 * G/(G-1)
    meat = sum(sum(v - mean for v, c in zip(values, clusters, strict=True) if c == g) ** 2 for g in groups)
    expected = math.sqrt(len(groups) / (len(groups) - 1) * meat / n**2)
    assert cluster_robust_se(values, clusters) == pytest.approx(expected)
    # one observation per cluster: close to the ordinary standard error of the mean
    iid = cluster_robust_se(values, [str(i) for i in range(n)])
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    assert iid == pytest.approx(sd / math.sqrt(n))


def test_prm_results_carry_the_truncation_flag() -> None:
    from toolprm_tasks.lm_eval_adapter.scoring import agg_acc, agg_truncated, process_prm

    def doc(case: str, position: int) -> dict:
        return {"trial_id": f"{case}/{position}", "case_id": case, "subset": "bfcl", "cluster": case,
                "error_type": "wrong_tool", "chosen_position": position, "candidates": ["x", "y"], "norm": "none"}

    # a PRM backend answers (score, is_greedy, truncated); case b's history was shortened
    items = [process_prm(doc("a", 1), [(0.9, False, False), (0.2, False, False)]),
             process_prm(doc("b", 2), [(0.4, False, True), (0.3, False, True)])]
    assert agg_acc([i["acc"] for i in items]) == pytest.approx(0.5)  # a right, b wrong (chosen was second)
    assert agg_truncated([i["truncated"] for i in items]) == pytest.approx(0.5)
    # a model without the flag (plain lm-eval models): unknown, reported as NaN, never as 0
    plain = process_prm(doc("a", 1), [(0.9, False), (0.2, False)])
    assert plain["truncated"]["truncated"] is None
    assert math.isnan(agg_truncated([plain["truncated"], items[0]["truncated"]]))


# ----------------------------------------------------------------------------- hostile scores
# An adversarial probe (2026-12-07): scores that are not numbers, NaN logprobs, and a label in
# the reasoning decided trials; lm-eval and Inspect disagreed on the same scores.


@pytest.mark.parametrize("value, usable", [
    (0.9, 0.9), (3, 3.0), (-2.5, -2.5), (True, None), (False, None), ("0.9", None), (None, None),
    (math.nan, None), (math.inf, None), (-math.inf, None), ([0.9], None), (10**400, None),
])
def test_a_score_is_usable_only_as_a_finite_real_number(value, usable) -> None:
    from scorers.core import usable_score

    assert usable_score(value) == usable


@pytest.mark.parametrize("raw", [(True, False), ("0.9", "0.1"), ("abc", 1.0), (math.inf, 0.3), (math.nan, 0.3)])
def test_lm_eval_counts_an_unusable_score_as_unscored_as_inspect_and_the_search_do(raw) -> None:
    from toolprm_tasks.agent_search.selector import best_score
    from toolprm_tasks.lm_eval_adapter.scoring import process_pairwise_ll, process_pointwise

    doc = {"trial_id": "t", "case_id": "c", "subset": "bfcl", "cluster": "k", "error_type": "wrong_tool",
           "chosen_position": 1, "norm": "none", "candidates": ["a", "b"]}
    for process in (process_pointwise, process_pairwise_ll):
        record = process(doc, [(raw[0], False), (raw[1], False)])["acc"]  # never raises
        assert (record["parsed"], record["correct"]) == (0.0, 0.0)
    # the search's pointwise selector skips the same scores: only a usable one can win
    index, _ = best_score([raw[0], raw[1]], random.Random(0))
    assert index == (1 if isinstance(raw[1], float) and math.isfinite(raw[1]) else None)


def test_a_nan_logprob_decides_nothing() -> None:
    labels = ("Action1", "Action2")
    both_nan = [TokenLogprob("Action", -0.1, []), TokenLogprob("1", math.nan, [("2", math.nan)])]
    one_nan = [TokenLogprob("Action", -0.1, []), TokenLogprob("1", math.nan, [("2", -1.0)])]
    assert first_from_token_logprobs(both_nan, labels) is None  # was 0.5: a parsed tie
    assert first_from_token_logprobs(one_nan, labels) is None  # was 0.0: NaN read as "less likely"


def test_labels_in_the_reasoning_decide_nothing_in_the_logprob_reader() -> None:
    labels = ("Action1", "Action2")
    think = [TokenLogprob("<think>", 0.0, []), TokenLogprob("Action", -0.1, []),
             TokenLogprob("1", -0.1, [("2", -3.0)]), TokenLogprob("</think>", 0.0, [])]
    answer = [TokenLogprob("Action", -0.1, []), TokenLogprob("2", -0.1, [("1", -3.0)])]
    assert first_from_token_logprobs(think + answer, labels) == 0.0  # the answer's label, not the reasoning's
    assert first_from_token_logprobs(think[:3], labels) is None  # reasoning never closed: cut off


def test_numpy_scores_are_scores_and_protocol_c_reads_logprobs_alike_in_both_frameworks() -> None:
    import numpy as np

    from scorers.core import usable_logprob, usable_score
    from toolprm_tasks.lm_eval_adapter.scoring import process_pairwise_ll

    assert usable_score(np.float32(0.5)) == 0.5 and usable_score(np.int64(3)) == 3.0 and usable_score(np.bool_(1)) is None
    assert usable_logprob(-math.inf) == -math.inf and usable_logprob(math.inf) is None and usable_logprob(math.nan) is None
    doc = {"trial_id": "t", "case_id": "c", "subset": "bfcl", "cluster": "k", "error_type": "wrong_tool",
           "chosen_position": 1, "norm": "none", "candidates": ["a", "b"]}
    # a label that cannot follow (-inf) loses in lm-eval, as an absent label does in Inspect's reader
    assert process_pairwise_ll(doc, [(-0.5, False), (-math.inf, False)])["acc"]["correct"] == 1.0
    tokens = [TokenLogprob("Action", -0.1, []), TokenLogprob("1", -0.5, [("2", -math.inf)])]
    assert first_from_token_logprobs(tokens, ("Action1", "Action2")) == 1.0
    # neither label can follow: no evidence, unscored in both (was a tie, half a win; probe 2026-12-07)
    both = process_pairwise_ll(doc, [(-math.inf, False), (-math.inf, False)])
    assert both["acc"]["correct"] == 0.0 and both["parse_fail"]["parsed"] == 0.0
    impossible = [TokenLogprob("Action", -0.1, []), TokenLogprob("1", -math.inf, [])]  # label 2 absent
    assert first_from_token_logprobs(impossible, ("Action1", "Action2")) is None
