"""Scores do not depend on batching: a candidate gets the same score scored alone, in a batch
of 64, in either order, and under Inspect concurrency of 1 or 64 (HF engine: exactly; it
scores one prompt at a time). The vLLM engine and server on the CPU: tests/test_vllm_batching.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval

from tests.fixture_data import RECORDS
from toolprm_tasks.core.cases import cases_from_records
from toolprm_tasks.engines.base import ScoreRequest
from toolprm_tasks.engines.hf import HFEngine


def _distinct_requests() -> list[ScoreRequest]:
    cases = [c for subset, make in RECORDS.items() for c in cases_from_records(make(), subset=subset, source=subset)]
    return [ScoreRequest(c.history, c.functions, a) for c in cases for a in (c.chosen, c.rejected)]


def test_hf_scores_are_exactly_the_same_alone_batched_and_reversed(tiny_classifier: Path) -> None:
    engine = HFEngine(str(tiny_classifier), "classifier")
    distinct = _distinct_requests()
    alone = [engine.score([r])[0] for r in distinct]
    # a batch of 64: every fixture request, then the first ones again
    index = [i % len(distinct) for i in range(64)]
    batch = [distinct[i] for i in index]
    assert engine.score(batch) == [alone[i] for i in index]
    assert engine.score(batch[::-1])[::-1] == [alone[i] for i in index]
    assert len(set(alone)) > 1  # the check is not vacuous: the candidates' scores differ


def _inspect_scores(log) -> dict[str, list[float]]:
    from toolprm_tasks.inspect_adapter.keys import SCORES_KEY

    assert log.status == "success", log.error
    return {str(s.id): s.metadata[SCORES_KEY] for s in log.samples}


@pytest.mark.slow  # two Inspect evaluations: about 10 s on two cores
def test_hf_scores_under_inspect_concurrency_1_and_64(data_env, tiny_classifier: Path, tmp_path: Path) -> None:
    """Inspect's provider batches what arrives together (up to --max-connections): 72
    candidate scores, one at a time or 64 at once, are the same, and the engine's own."""
    from toolprm_tasks.toolprmbench import toolprmbench

    scores = {}
    for connections in (1, 64):
        log = inspect_eval(toolprmbench(protocol="pointwise", order="both"), model=f"toolprm-hf/{tiny_classifier}",
                           model_args={"kind": "classifier", "device": "cpu"}, max_connections=connections,
                           log_dir=str(tmp_path / str(connections)), display="none")[0]
        scores[connections] = _inspect_scores(log)
    assert len(scores[1]) == len(_distinct_requests())  # a sample per case and order, two candidates each
    assert scores[64] == scores[1]
    engine = HFEngine(str(tiny_classifier), "classifier")
    expected = set(engine.score(_distinct_requests()))
    assert {s for pair in scores[1].values() for s in pair} == expected
