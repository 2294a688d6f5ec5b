"""Shared fixtures: release-format data in a temporary folder, used through the real loaders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixture_data import write_release_files

# vLLM engines in tests start in seconds: no torch.compile (our engine option's default, read by
# engines.vllm_engine.engine_args) and the engine core in the caller's process (vLLM's own switch;
# an offline engine otherwise spawns two processes that import torch and vLLM again). Scores are
# the same; subprocesses and framework command lines inherit both. Set either to 0 to test the
# production start-up.
os.environ.setdefault("TOOLPRMBENCH_VLLM_ENFORCE_EAGER", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


@pytest.fixture(scope="session")
def fixture_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toolprmbench-data")


@pytest.fixture(scope="session")
def case_counts(fixture_data_dir: Path) -> dict[str, int]:
    return write_release_files(fixture_data_dir)


@pytest.fixture
def data_env(monkeypatch: pytest.MonkeyPatch, fixture_data_dir: Path, case_counts: dict[str, int],
             tmp_path: Path) -> dict[str, str]:
    """Point the loaders at the fixture copy (it is not the pinned release: allow unpinned)."""
    env = {"TOOLPRMBENCH_DATA_DIR": str(fixture_data_dir), "TOOLPRMBENCH_ALLOW_UNPINNED": "1",
           "TOOLPRMBENCH_CACHE_DIR": str(tmp_path / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from toolprm_tasks import data

    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return env


def _corpus() -> list[str]:
    from tests.fixture_data import RECORDS
    from toolprm_tasks.core.cases import cases_from_records
    from toolprm_tasks.core.trials import build_trials

    cases = [c for s, make in RECORDS.items() for c in cases_from_records(make(), subset=s, source=s)]
    return [t.pairwise_text(p) for t in build_trials(cases, order="both") for p in ("standard", "toolprm")]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), _corpus())


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-classifier"), _corpus(), head="classifier")


@pytest.fixture(scope="session")
def tiny_step_prm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-step"), _corpus(), head="token", num_labels=2)


@pytest.fixture(autouse=True)
def no_tiktoken_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inspect's default token estimate downloads a tiktoken file; count words instead (offline)."""
    from inspect_ai.model import ModelAPI

    async def count_text_tokens(self: ModelAPI, text: str) -> int:
        return len(text.split())

    monkeypatch.setattr(ModelAPI, "count_text_tokens", count_text_tokens)
