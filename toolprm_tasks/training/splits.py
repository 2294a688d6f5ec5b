"""The cases a recipe trains on and the held-out cases it must never see.

Rebuilt data (`data="rebuilt"`): a build assigns whole conversation clusters to the training or
the test split; `prmbench_rebuilt_<source>_train.json` holds the training cases and the
manifest lists both splits' clusters. Official data (`data="official"`): the release's
training files (BFCL, ToolSandbox), verified like its test files (`toolprm_tasks.data`).

`training_split` loads the training cases of every source together with the same sources'
test cases and refuses (rebuilt) or reports (official: the release was not split by cluster)
any cluster the two share, and any training case whose content (history, tools and the two actions)
is a test case's under another cluster name, so a trained judge is never scored on a
conversation it saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from toolprm_tasks import data
from toolprm_tasks.core.cases import Case, action_key
from toolprm_tasks.core.names import DATA_KINDS, SPLITS, check_choice
from toolprm_tasks.data import DataError, LoadedSubset, jsonio, pins


def default_subsets(data_kind: str) -> tuple[str, ...]:
    """The sources that have a training split: the rebuilt sources, or the release's two files."""
    if check_choice("data", data_kind, DATA_KINDS) == "rebuilt":
        return data.REBUILT_SUBSETS
    return tuple(pins.PINNED_TRAIN_FILES)


def load_split(subset: str, split: str, data_kind: str = "rebuilt", seed: int = 0) -> LoadedSubset:
    """One source's cases of one split (`test` or `train`), verified."""
    check_choice("split", split, SPLITS)
    if check_choice("data", data_kind, DATA_KINDS) == "official":
        return data.load_subset(subset, split=split)
    loaded = data.load_rebuilt(subset, seed=seed, split=split)
    # TOOLPRMBENCH_REBUILT_DIR names a folder whatever its seed: a seed that is not its build's
    # would be recorded as the data's while another build's cases are read
    manifest = loaded.path.parent / f"manifest_{subset}.json"
    built = jsonio.read_json(manifest).get("seed") if manifest.is_file() else None
    if isinstance(built, int) and built != seed:
        raise DataError(f"{manifest}: the rebuilt data there is build seed {built}, not the data seed {seed} asked "
                        f"for (--data-seed): pass --data-seed {built}, or unset TOOLPRMBENCH_REBUILT_DIR to read the "
                        f"default build of seed {seed}")
    return loaded


def manifest_cluster_overlap(manifest: Any) -> list[str]:
    """Clusters a manifest lists under both splits (must be none)."""
    splits = manifest.get("splits") if isinstance(manifest, dict) else None
    if not isinstance(splits, dict):
        return []
    listed = [set(map(str, (splits.get(s) or {}).get("clusters") or [])) for s in SPLITS]
    return sorted(listed[0] & listed[1])


def _canonical(value: Any) -> str:
    """`value` as JSON with keys sorted (data a loader accepted, but not necessarily JSON-safe)."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        return repr(value)


def _tool_name(spec: Any) -> str | None:
    """A tool's name in the forms releases write: `{"name": ...}`, OpenAI's `{"type":
    "function", "function": {"name": ...}}`, or the bare name."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        inner = spec.get("function")
        name = spec.get("name", inner.get("name") if isinstance(inner, dict) else None)
        return name if isinstance(name, str) else None
    return None


def _tool_names(tools: Any) -> list[str]:
    """The tools offered, sorted: by name where every one has one (a list of specs, or an object
    of them keyed by name), so the same tools in another form, order or wording are the same;
    else their canonical texts (still in any order); a string is read as JSON first."""
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            return [tools]
    if isinstance(tools, dict):  # specs keyed by name: the specs' own names, else the keys
        named = [_tool_name(spec) if isinstance(spec, dict) else None for spec in tools.values()]
        return sorted(named) if all(named) else sorted(map(str, tools))  # type: ignore[arg-type]
    if not isinstance(tools, list):
        return [_canonical(tools)]
    names = [_tool_name(spec) for spec in tools]
    if all(name is not None for name in names):
        return sorted(names)  # type: ignore[arg-type]
    return sorted(map(_canonical, tools))


def content_key(case: Case) -> str:
    """What a judge learns from a case, whatever its id or cluster is called: the history (any
    key order), the tools offered (by name, in any order: a withheld tool makes another step, a
    reordered or reworded list does not) and the two actions as the loader compares them
    (`action_key`), in either order (the same pair with the preference reversed is the same
    conversation step)."""
    return json.dumps([_canonical(case.history), _tool_names(case.functions),
                       sorted((action_key(case.chosen), action_key(case.rejected)))], ensure_ascii=False)


def shared_content(train: Sequence[Case], test: Sequence[Case]) -> list[str]:
    """Ids of the training cases whose `content_key` is a test case's."""
    held_out = {content_key(case) for case in test}
    return [case.id for case in train if content_key(case) in held_out]


@dataclass
class TrainingSplit:
    """A recipe's data: training cases per source, the held-out sources' test files, and the
    clusters the two share (empty for rebuilt data, where sharing is refused)."""

    data_kind: str
    train: list[LoadedSubset]
    test: list[LoadedSubset]
    shared_clusters: dict[str, list[str]] = field(default_factory=dict)
    shared_cases: dict[str, list[str]] = field(default_factory=dict)  # training case ids equal to a test case

    @property
    def cases(self) -> list[Any]:
        return [case for loaded in self.train for case in loaded.cases]

    def describe(self) -> dict[str, Any]:
        """What an export or a trained model records about its data."""
        return {"data": self.data_kind,
                "train": {item.subset: item.fingerprint() for item in self.train},
                "held_out": {item.subset: item.fingerprint() for item in self.test},
                "train_clusters": {item.subset: len({c.cluster for c in item.cases}) for item in self.train},
                "clusters_shared_with_test": {k: len(v) for k, v in self.shared_clusters.items()},
                "cases_equal_to_test": {k: len(v) for k, v in self.shared_cases.items()}}


def training_split(data_kind: str = "rebuilt", subsets: Sequence[str] | None = None, seed: int = 0) -> TrainingSplit:
    """Training cases of `subsets` (default: every source with a training split) and the same
    sources' test cases, checked for shared clusters."""
    subsets = tuple(subsets or default_subsets(data_kind))
    train = [load_split(s, "train", data_kind, seed) for s in subsets]
    test = [load_split(s, "test", data_kind, seed) for s in subsets]
    shared: dict[str, list[str]] = {}
    equal: dict[str, list[str]] = {}
    for train_file, test_file in zip(train, test, strict=True):
        common = sorted({c.cluster for c in train_file.cases} & {c.cluster for c in test_file.cases})
        same = shared_content(train_file.cases, test_file.cases)  # a cluster renamed is still the same case
        for found, store, what in ((common, shared, "conversation cluster(s) are also in the test split"),
                                   (same, equal, "training case(s) have the history, tools and actions of a "
                                                 "case in the test split")):
            if found and data_kind == "rebuilt":  # the release was not split by cluster: counted there
                raise DataError(f"{train_file.path}: {len(found)} {what} {test_file.path} (first: {found[0]}): a "
                                "trained judge would be scored on what it saw; rebuild the data")
            if found:
                store[train_file.subset] = found
        manifest = train_file.path.parent / f"manifest_{train_file.subset}.json"
        if data_kind == "rebuilt" and manifest.is_file():
            listed = manifest_cluster_overlap(jsonio.read_json(manifest))
            if listed:
                raise DataError(f"{manifest}: lists {len(listed)} cluster(s) under both splits (first: {listed[0]}); "
                                "rebuild the data")
    return TrainingSplit(data_kind, train, test, shared, equal)
