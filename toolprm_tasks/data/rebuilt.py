"""The rebuilt (offline) cases: where the default build lives, building it, loading a build.

Building is an explicit step (`toolprmbench build`, or `build_default`); loading never builds:
a missing default build is `NotBuilt`, whose one line names the command. A build is verified
against its manifest on every read. TOOLPRMBENCH_REBUILT_DIR: read a build the user made
(`toolprmbench build --out DIR`) instead of the default one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toolprm_tasks.core.names import SPLITS, check_choice
from toolprm_tasks.data import jsonio
from toolprm_tasks.data.cache import cache_dir
from toolprm_tasks.data.errors import DataError, env_path
from toolprm_tasks.data.loaded import LoadedSubset, digest_of, read_cases, remembered
from toolprm_tasks.data.offline import REBUILT_SUBSETS, no_rebuilt_set

logger = logging.getLogger(__name__)


def default_rebuilt_dir(seed: int = 0) -> Path:
    """The cache folder of this tool's default rebuilt set: build version, the digest of the code
    that writes it (a change never reuses a stale build) and seed in its name."""
    # lazy: rebuild.build imports inspect_ai (rebuild.models): loading data stays framework-free
    from toolprm_tasks.rebuild.build import BUILD_VERSION, code_fingerprint

    return cache_dir() / f"rebuilt-v{BUILD_VERSION}-{code_fingerprint()}-seed{seed}"


def _rebuilt_files(folder: Path, subset: str, split: str = "test") -> tuple[Path, Path]:
    """The cases of a split (`test`: what every rebuilt task runs; `train`: the training
    split, whole conversation clusters the test split never holds) and the source's manifest."""
    suffix = "" if check_choice("split", split, SPLITS) == "test" else f"_{split}"
    return folder / f"prmbench_rebuilt_{subset}{suffix}.json", folder / f"manifest_{subset}.json"


BUILD_COMMAND = "toolprmbench build"
BUILD_COST = "about 40 CPU-s"  # the default set, both sources (benchmarks/build_time.py measures it)


class NotBuilt(DataError):
    """The default rebuilt set has not been built: building is an explicit step
    (`toolprmbench build`, or `build_default`), never a side effect of loading."""

    def __init__(self, subset: str, folder: Path, seed: int = 0) -> None:
        self.subset, self.folder, self.seed = subset, folder, seed
        command = BUILD_COMMAND + (f" --seed {seed}" if seed else "")
        super().__init__(f"no rebuilt build of {subset} in {folder}: run `{command}` ({BUILD_COST})")

    def __reduce__(self) -> tuple[type[NotBuilt], tuple[str, Path, int]]:
        # the default pickles only the message, which is not this __init__'s signature
        return (type(self), (self.subset, self.folder, self.seed))


def default_built(subset: str, seed: int = 0, *, verify: bool = False) -> bool:
    """Whether the default rebuilt folder holds `subset`'s cases and manifest; with `verify`,
    both splits and a manifest that records their sha256 (for `build --if-missing`, which the
    make targets run: a half-written or changed build is built again; the loaders verify what
    they read anyway)."""
    folder = default_rebuilt_dir(seed)
    path, manifest_path = _rebuilt_files(folder, subset)
    if not verify:
        return path.is_file() and manifest_path.is_file()
    train, _ = _rebuilt_files(folder, subset, "train")
    if not (path.is_file() and manifest_path.is_file() and train.is_file()):
        return False
    try:
        files = manifest_files(jsonio.read_json(manifest_path), manifest_path)
        return all(files.get(p.name) == digest_of(p, str(p)) for p in (path, train))
    except (DataError, jsonio.JSONFileError, OSError):
        return False


def require_default_rebuilt(seed: int = 0, subsets: Iterable[str] = REBUILT_SUBSETS) -> Path:
    """The default rebuilt folder, or NotBuilt (naming the command) if a subset is missing."""
    for subset in subsets:
        if not default_built(subset, seed):
            raise NotBuilt(subset, default_rebuilt_dir(seed), seed)
    return default_rebuilt_dir(seed)


def build_default(seed: int = 0, subsets: Iterable[str] = REBUILT_SUBSETS, *, missing_only: bool = False,
                  audit_model: str | None = None) -> dict[str, dict[str, Any]]:
    """Build the default rebuilt set (what `toolprmbench build` without --out does) into the
    folder the loaders read; `missing_only`: only the subsets not built yet; `audit_model`: the
    manifest audit's real-model column (the cases are the same). Returns the manifests written."""
    # lazy: rebuild.build imports inspect_ai (rebuild.models): loading data stays framework-free
    from toolprm_tasks.rebuild.build import Models, build

    wanted = [s for s in subsets if not (missing_only and default_built(s, seed, verify=True))]
    if not wanted:
        return {}
    folder = default_rebuilt_dir(seed)
    logger.info("toolprm-tasks: building the rebuilt %s cases into %s (seed %d)", ", ".join(wanted), folder, seed)
    return build(wanted, folder, seed=seed, models=Models(audit_model=audit_model))


def _rebuild_advice(folder: Path, subset: str, *, configured: bool, seed: int = 0) -> str:
    """How to make a rebuilt folder whole again: the default one by `toolprmbench build` (it is
    replaced); a folder the user named by the command that made it."""
    if configured:
        build = f"`toolprmbench build --source {subset} --out {folder}`"
        return f"rebuild it with {build} (TOOLPRMBENCH_REBUILT_DIR names this folder)"
    return f"rebuild it with `{BUILD_COMMAND}{f' --seed {seed}' if seed else ''}` (the default build; {BUILD_COST})"


def manifest_files(manifest: Any, manifest_path: Path) -> dict[str, Any]:
    """A build manifest's `files` record (file name -> sha256); a DataError naming the file
    where the value read from it is not a build manifest."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        what = "a JSON object" if not isinstance(manifest, dict) else "a `files` object (file name: sha256)"
        raise DataError(f"{manifest_path}: not a build manifest (expected {what})")
    return files


def load_rebuilt(subset: str, seed: int = 0, split: str = "test") -> LoadedSubset:
    """The rebuilt (offline) cases of one source and split (`test`, the default, or `train`),
    verified against their manifest. Reads TOOLPRMBENCH_REBUILT_DIR if set, else the default
    build (`default_rebuilt_dir`); never builds: a missing default build is `NotBuilt`, whose
    one line names the command (one build writes both splits)."""
    configured = env_path("TOOLPRMBENCH_REBUILT_DIR")
    folder = configured or default_rebuilt_dir(seed)
    path, manifest_path = _rebuilt_files(folder, subset, split)
    if subset not in REBUILT_SUBSETS and not path.is_file():
        raise DataError(f"no rebuilt data for {subset!r} in {folder}. {no_rebuilt_set(subset)}")
    redo = _rebuild_advice(folder, subset, configured=bool(configured), seed=seed)
    if not configured and subset in REBUILT_SUBSETS and not default_built(subset, seed):
        raise NotBuilt(subset, folder, seed)
    if not path.is_file() or not manifest_path.is_file():
        what = f"no training split for {subset} ({path.name})" if split == "train" else f"no {path.name}"
        raise DataError(f"{folder}: {what} with its manifest {manifest_path.name}; {redo}")
    try:
        manifest = jsonio.read_json(manifest_path)
    except jsonio.JSONFileError as exc:
        raise DataError(f"{exc}; {redo}") from None
    splits = manifest.get("splits") if isinstance(manifest, dict) else None
    if split == "train" and not (isinstance(splits, dict) and isinstance(splits.get("train"), dict)):
        raise DataError(f"{manifest_path}: no `splits.train` record; {redo}")
    try:
        files = manifest_files(manifest, manifest_path)
    except DataError as exc:
        raise DataError(f"{exc}; {redo}") from None
    digest = digest_of(path, str(path))
    if digest != files.get(path.name):
        raise DataError(f"{path}: sha256 {digest} does not match its manifest {manifest_path.name} "
                        f"({files.get(path.name)}); {redo}")

    def load() -> LoadedSubset:
        cases = read_cases(subset, path, str(path), path.name, digest=digest)
        counted = manifest.get("cases") if split == "test" else \
            ((manifest.get("splits") or {}).get(split) or {}).get("cases")
        where = "cases" if split == "test" else f"splits.{split}.cases"
        if not isinstance(counted, int) or isinstance(counted, bool):
            raise DataError(f"{manifest_path}: field '{where}' is not a record count ({counted!r}); {redo}")
        if counted != len(cases):
            raise DataError(f"{path}: {len(cases)} records, its manifest says {counted}; {redo}")
        return LoadedSubset(subset, path, digest, True, False, cases, data="rebuilt")

    return remembered((str(path), digest), load)


