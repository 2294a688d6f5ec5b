"""A hostile model answer is a counted failure with its reason, never the end of a run.

Degenerate generations (a thousand `[`, half-open `<think>`, NaN scores) go through the real
lm-eval (`simple_evaluate` with an LM of ours) and Inspect (`eval` with mockllm) code paths;
the runs must finish, count the answers as parse failures and say why per sample.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model
from lm_eval.api.model import LM

from tests.helpers import evaluate, log_metrics, mock_output

HOSTILE = [
    '{"a": ' + "[" * 1000,
    "<think>" + "Action1 " * 500,
    '{"chosen action": "' + "Action1 or " * 2000 + 'Action2"}',
    "\x00\ud7ff" + "{" * 20_000,
]
GOOD = '{"rationale": "r", "chosen action": "Action1"}'


def test_inspect_run_survives_degenerate_generations(data_env, tmp_path: Path) -> None:
    from toolprm_tasks.bfcl import bfcl

    answers = [*HOSTILE, GOOD, GOOD]  # the bfcl fixture subset has 6 cases
    model = get_model("mockllm/model", custom_outputs=[mock_output(a) for a in answers])
    log = inspect_eval(bfcl(order="chosen_first"), model=model, log_dir=str(tmp_path), max_samples=1,
                       display="none")[0]
    assert log.status == "success"
    metrics = log_metrics(log)
    assert metrics["parse_fail"] == pytest.approx(4 / 6)
    assert metrics["acc"] == pytest.approx(2 / 6)  # chosen first: the two good answers are right
    reasons = [sample.scores["toolprm_scorer"].explanation for sample in log.samples]
    assert sum("parsed by rule" in r and "json" not in r for r in reasons) == 4, reasons


class _HostileLM(LM):
    """Answers with degenerate text in turn; log-likelihoods are NaN for the first document."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        answers = []
        for _ in requests:
            answers.append(HOSTILE[self.calls % len(HOSTILE)])
            self.calls += 1
        return answers

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return [(math.nan if r.doc["case_id"].endswith("0000") else -1.0 - r.idx, False) for r in requests]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError


@pytest.mark.parametrize("task", ["toolprmbench_gta", "toolprmbench_gta_pairwise_ll"])
def test_lm_eval_run_survives_degenerate_answers(data_env, task: str) -> None:
    out = evaluate(_HostileLM(), [task], {"order": "chosen_first"}, log_samples=True)
    metrics = out["results"][task]
    samples = out["samples"][task]
    if task.endswith("pairwise_ll"):
        # one NaN document is unscorable; the others prefer label 1 (-1 > -2): chosen first, right
        assert metrics["parse_fail,none"] == pytest.approx(1 / len(samples))
        assert metrics["acc,none"] == pytest.approx(1 - 1 / len(samples))
    else:
        assert metrics["parse_fail,none"] == 1.0 and metrics["acc,none"] == 0.0
        reasons = {s["acc"]["parsed_by"] for s in samples}
        assert reasons <= {"unclosed_think", "both_labels_in_answer", "no_label"}, reasons
