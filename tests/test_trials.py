"""Candidate order: seeded, balanced per subset, independent of file order."""

from __future__ import annotations

import pytest

from tests.fixture_data import RECORDS
from toolprm_tasks.core.cases import cases_from_records
from toolprm_tasks.core.trials import build_trials


def _cases():
    return [c for s, make in RECORDS.items() for c in cases_from_records(make(), subset=s, source=s)]


def test_seeded_order_is_balanced_per_subset() -> None:
    trials = build_trials(_cases(), order="seeded", seed=0)
    for subset in RECORDS:
        positions = [t.chosen_position for t in trials if t.case.subset == subset]
        assert abs(positions.count(1) - positions.count(2)) <= 1


def test_seeded_order_does_not_depend_on_file_order_or_other_subsets() -> None:
    cases = _cases()
    forward = {t.id: t.chosen_position for t in build_trials(cases, seed=7)}
    backward = {t.id: t.chosen_position for t in build_trials(list(reversed(cases)), seed=7)}
    bfcl_only = {t.id: t.chosen_position for t in build_trials([c for c in cases if c.subset == "bfcl"], seed=7)}
    assert forward == backward
    assert all(forward[k] == v for k, v in bfcl_only.items())


def test_seed_changes_the_assignment() -> None:
    cases = _cases()
    orders = {tuple(t.chosen_position for t in build_trials(cases, seed=s)) for s in range(6)}
    assert len(orders) > 1


def test_both_orders_and_candidates() -> None:
    case = _cases()[0]
    seeded = build_trials([case], order="seeded", seed=3)[0]
    first, second = sorted(build_trials([case], order="both", seed=3), key=lambda t: t.chosen_position)
    assert (first.chosen_position, second.chosen_position) == (1, 2)
    assert first.candidates == (case.chosen, case.rejected)
    assert second.candidates == (case.rejected, case.chosen)
    assert {first.id, second.id} == {f"{case.id}/a", f"{case.id}/b"}
    by_variant = {t.variant: t for t in (first, second)}
    assert by_variant["a"].chosen_position == seeded.chosen_position  # "a" is the seeded order


def test_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown order"):
        build_trials(_cases(), order="random")
