"""The protocol registry (core/protocols.py): one object per protocol, and adapters that act
on its fields instead of branching on protocol names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolprm_tasks.core import names
from toolprm_tasks.core.protocols import REGISTRY, protocol
from toolprm_tasks.core.trials import build_trials
from toolprm_tasks.lm_eval_adapter.docs import trial_doc

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("toolprm_tasks/inspect_adapter/tasks.py", "toolprm_tasks/inspect_adapter/scorer.py",
            "toolprm_tasks/lm_eval_adapter/docs.py", "toolprm_tasks/lm_eval_adapter/scoring.py")


def test_every_protocol_name_is_registered_once() -> None:
    assert tuple(REGISTRY) == names.PROTOCOLS
    with pytest.raises(ValueError, match="unknown protocol 'listwise'; expected one of generative, pairwise_ll"):
        protocol("listwise")


def test_the_adapters_never_branch_on_a_protocol_name() -> None:
    for rel in ADAPTERS:
        text = (ROOT / rel).read_text(encoding="utf-8")
        found = re.findall(r"protocol\s*[!=]=\s*\"\w+\"", text)
        assert not found, f"{rel}: {found}"


@pytest.mark.parametrize("name", names.PROTOCOLS)
def test_the_lm_eval_row_shows_what_the_protocol_says(name: str, data_env: dict[str, str]) -> None:
    from toolprm_tasks.data import load_subset

    trial = build_trials(load_subset("bfcl").cases[:1], order="chosen_first", seed=0)[0]
    spec = protocol(name)
    doc = trial_doc(trial, protocol=name, prompt=spec.default_prompt, norm="char")
    expected = trial.pointwise_context() if name == "pointwise" else trial.pairwise_text(spec.default_prompt)
    assert doc["prompt"] == expected


@pytest.mark.parametrize("name", names.PROTOCOLS)
def test_each_protocols_task_names_exist(name: str) -> None:
    spec = protocol(name)
    for norm in ("char", "none"):
        assert (ROOT / "task_yaml" / f"toolprmbench_bfcl{spec.task_suffix(norm)}.yaml").is_file()
