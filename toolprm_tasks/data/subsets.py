"""The cases a run gets: the official or the rebuilt subsets (never mixed), all or one tier."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from toolprm_tasks.core.names import DATA_KINDS, TIERS, check_choice
from toolprm_tasks.data.errors import DataError
from toolprm_tasks.data.loaded import LoadedSubset
from toolprm_tasks.data.official import load_subset
from toolprm_tasks.data.rebuilt import load_rebuilt
from toolprm_tasks.rebuild.difficulty import in_tier


def load_subsets(subsets: Iterable[str], data: str = "official", tier: str = "all") -> list[LoadedSubset]:
    """The subsets of the official release or of the rebuilt set (never mixed); `tier="hard"`:
    the rebuilt set's hard tier only (a rule over each case's `difficulty` field)."""
    load = {"official": load_subset, "rebuilt": load_rebuilt}[check_choice("data", data, DATA_KINDS)]
    check_choice("tier", tier, TIERS)
    if tier != "all" and data != "rebuilt":
        raise DataError(f"tier={tier} selects rebuilt cases by their difficulty field: it needs data=rebuilt "
                        "(the paper's release has no such field)")
    return [select_tier(load(s), tier) for s in subsets]


def select_tier(loaded: LoadedSubset, tier: str) -> LoadedSubset:
    """The subset's cases of one tier (`rebuild.difficulty.in_tier`), in file order."""
    if tier == "all":
        return loaded
    cases = [case for case in loaded.cases if in_tier(case.provenance, tier)]
    if not cases:
        raise DataError(f"{loaded.path}: no case of the {tier} tier (a build older than version 6 has no "
                        "difficulty field; rebuild it)")
    return replace(loaded, cases=cases, tier=tier)


