"""Training and test splits of a rebuilt source: whole conversation clusters, by a seeded rule.

A cluster is what the cases' `Case.cluster` groups: a BFCL entry (its four category variants
share their requests and gold calls), a ToolTalk conversation, a GTA query. Clusters are
ordered by a seeded hash of their name and the first `round(TRAIN_SHARE * n)` go to `train`,
the rest to `test`; no cluster crosses. The rule reads nothing but the names and the seed,
so a cluster's split never depends on which other clusters a build holds or on any result.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolprm_tasks.core.names import SPLITS
from toolprm_tasks.core.trials import seeded_key

__all__ = ["SPLITS", "TRAIN_SHARE", "assign"]
TRAIN_SHARE = 0.25


def assign(clusters: Iterable[str], seed: int, source: str) -> dict[str, str]:
    """cluster -> "train" or "test" (about a quarter of the clusters to train)."""
    ordered = sorted(set(clusters), key=lambda name: (seeded_key(seed, f"{source}/split/{name}"), name))
    train = round(TRAIN_SHARE * len(ordered))
    return {name: "train" if index < train else "test" for index, name in enumerate(ordered)}
