"""The official ToolPRMBench files: pinned, fetched once into a cache, verified on every read.

The four test files, and the training files of BFCL and ToolSandbox (`split="train"`, JSON
Lines; handled like ToolSandbox's test file: their digests are not published either).

Pins (reference: toolprmbench-paper.md): repository David-Li0406/ToolPRMBench at commit
`PINNED_COMMIT`, folder `data/`. ToolSandbox's digest is not published: its file is pinned
by commit and record count, and the sha256 of the first copy used on this machine is
recorded beside the cache (trust on first use); results say "digest not published".

Every file is verified before it is used and every download before it is cached: its size
and sha256 where pinned; that it is strict JSON (`jsonio`), that every record validates and
that it has the release's number of records. See docs/data.md.

Environment:
- TOOLPRMBENCH_DATA_DIR: read a local copy instead of the cache (verified against the pins).
- TOOLPRMBENCH_CACHE_DIR: where downloads go (default: the platform's user cache dir). A
  folder named here may hold the user's own files: only files this tool wrote (listed in the
  folder's ledger) are ever replaced.
- TOOLPRMBENCH_ALLOW_UNPINNED=1: accept a local copy whose digest differs (recorded as unpinned).
- TOOLPRMBENCH_BASE_URL: a mirror of the raw-file host (must serve `<base>/<file>`).
- TOOLPRMBENCH_DOWNLOAD_DEADLINE: seconds one file's download may take, retries included.
- TOOLPRMBENCH_MAX_DOWNLOAD_BYTES: the size cap for a file whose size is not pinned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from toolprm_tasks.core import fetch
from toolprm_tasks.core.cases import SUBSETS, Case, RecordError, check_records
from toolprm_tasks.core.fetch import sha256_file
from toolprm_tasks.core.names import DATA_KINDS, SPLITS, TIERS, check_choice
from toolprm_tasks.data import jsonio

logger = logging.getLogger(__name__)

PINNED_REPO = "David-Li0406/ToolPRMBench"
PINNED_COMMIT = "b43164fbb2cd2963e1906a6fe62a86e7ce05973e"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{PINNED_REPO}/{PINNED_COMMIT}/data"
DEFAULT_DEADLINE_S = 600.0  # the largest file is 3 MB: ten minutes allows for 5 kB/s
RETRY_BACKOFF_S = 1.0  # first pause between attempts; doubled each time
DEFAULT_MAX_BYTES = 32 << 20  # ToolSandbox's size is unpublished; the other files are 0.4 to 3 MB
LEDGER_NAME = ".toolprm-tasks-files.json"  # in the cache folder: the files this tool wrote there
_MARK = "toolprm-tasks"  # `written_by` in the ledger and first-use records: recognisably ours


@dataclass(frozen=True)
class PinnedFile:
    subset: str
    filename: str
    cases: int
    size: int | None
    sha256: str | None  # None: not published (pinned by commit and record count only)


PINNED_FILES: dict[str, PinnedFile] = {
    "gta": PinnedFile("gta", "prmbench_GTA.json", 118, 410_147,
                      "dc4cfb906dd2b20ad9452b3afdca5346a4a6a3378e15667fd47fa1c21a54a23c"),
    "tooltalk": PinnedFile("tooltalk", "prmbench_tooltalk.json", 86, 1_635_593,
                           "e5327446f854fae9d9ed5319bd5a418168626aa6327853d145e35cf87f2027a1"),
    "bfcl": PinnedFile("bfcl", "prmbench_bfcl.json", 111, 3_019_158,
                       "3c13646f14abaaeba619d5ba91d6cc64bcd4223472eea62ab91ca94f588f14a8"),
    "toolsandbox": PinnedFile("toolsandbox", "prmbench_ToolSandbox.json", 130, None, None),
}

# The release's training files (paper Table 3; GTA and ToolTalk have none): JSON Lines, the test
# files' fields. Their digests are not published: pinned like ToolSandbox's test file (commit,
# record count, the first copy used here recorded and later changes refused).
PINNED_TRAIN_FILES: dict[str, PinnedFile] = {
    "bfcl": PinnedFile("bfcl", "prmbench_bfcl_train.json", 243, None, None),
    "toolsandbox": PinnedFile("toolsandbox", "prmbench_ToolSandbox_train.json", 299, None, None),
}


def pinned_file(subset: str, split: str = "test") -> PinnedFile:
    """The pin of one official file: a subset's test file, or its training file."""
    pins = PINNED_TRAIN_FILES if check_choice("split", split, SPLITS) == "train" else PINNED_FILES
    if subset not in pins:
        if split == "train" and subset in PINNED_FILES:
            raise DataError(f"the release has no training file for {subset!r}: training files exist for "
                            f"{', '.join(PINNED_TRAIN_FILES)} (paper Table 3)")
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    return pins[subset]


class DataError(RuntimeError):
    """The benchmark data cannot be had or does not match its pin; the message says what to do."""


class DataUnavailable(DataError):
    """An official file that is neither in TOOLPRMBENCH_DATA_DIR nor in the cache and cannot be
    downloaded. The message names what runs offline instead and how to supply the file, worded
    for the command in use (`worded_for`; `toolprm_tasks.data.offline`)."""

    def __init__(self, subset: str, reason: str, front_end: str = "any", task_suffix: str = "",
                 command: str = "") -> None:
        from toolprm_tasks.data.offline import unavailable_message

        self.subset, self.reason = subset, reason
        super().__init__(unavailable_message(subset, reason, front_end, task_suffix, command))

    def worded_for(self, front_end: str, task_suffix: str = "", command: str = "") -> DataUnavailable:
        """The same error with the offline route of `front_end` (lm-eval, inspect, toolprmbench;
        `task_suffix`: the lm-eval task's protocol suffix; `command`: the toolprmbench command)."""
        return DataUnavailable(self.subset, self.reason, front_end, task_suffix, command)


class _Untrusted(DataError):
    """A file without a published digest that differs from the copy first used here."""


@dataclass(frozen=True)
class LoadedSubset:
    subset: str
    path: Path
    sha256: str
    verified: bool  # digest checked against a published pin (rebuilt: against its manifest)
    unpinned: bool  # a local copy whose digest differs, accepted on request
    cases: list[Case]
    data: str = "official"  # or "rebuilt" (never mixed into official-data numbers)
    tier: str = "all"  # rebuilt data: "hard" keeps the hard tier's cases only (`rebuild.difficulty`)

    def fingerprint(self) -> dict[str, Any]:
        info = {"data": self.data, "file": self.path.name, "sha256": self.sha256, "verified": self.verified,
                "unpinned": self.unpinned, "cases": len(self.cases)}
        if self.tier != "all":
            info["tier"] = self.tier
        if self.data == "official":
            info["commit"] = PINNED_COMMIT
        return info


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DataError(f"{name}={raw!r}: expected a positive number (or unset it for the default, {default:g})")
    return value


def cache_dir() -> Path:
    configured = os.environ.get("TOOLPRMBENCH_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("toolprm-tasks")) / PINNED_COMMIT[:12]


def _url(pin: PinnedFile) -> str:
    base = os.environ.get("TOOLPRMBENCH_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/{pin.filename}"


# ----------------------------------------------------------------------------- the cache folder

def _not_writable(folder: Path, exc: OSError) -> str:
    return (f"the cache folder {folder} is not writable ({exc.strerror or exc}): set TOOLPRMBENCH_CACHE_DIR "
            f"to a writable folder, or TOOLPRMBENCH_DATA_DIR to a folder that holds the data files")


def _not_ours(path: Path, reason: str) -> str:
    return (f"{path}: {reason}. This file was not written by toolprm-tasks (TOOLPRMBENCH_CACHE_DIR "
            f"names a folder that is not the tool's own, and its ledger {LEDGER_NAME} does not list "
            f"the file), so it is left untouched: move it away, or point TOOLPRMBENCH_CACHE_DIR at a "
            f"folder of its own")


def _writable_cache() -> Path:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(_not_writable(folder, exc)) from None
    if not folder.is_dir():
        raise DataError(f"TOOLPRMBENCH_CACHE_DIR={folder} is not a folder")
    return folder


def _write_json_atomic(path: Path, value: Any) -> None:
    try:
        handle, tmp = fetch.partial_file(path.parent)
    except fetch.LocalWriteError as exc:
        raise DataError(_not_writable(path.parent, exc.error)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(_not_writable(path.parent, exc)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _read_ours(path: Path) -> dict[str, Any] | None:
    """A small JSON record this tool wrote (ledger, first-use record); None if absent;
    DataError if a file of that name exists but is not ours (it is never overwritten)."""
    if not path.exists():
        return None
    try:
        value = jsonio.read_json(path)
    except (jsonio.JSONFileError, OSError):
        value = None
    if not isinstance(value, dict) or value.get("written_by") != _MARK:
        raise DataError(_not_ours(path, "not a record this tool writes"))
    return value


def _ledger(folder: Path) -> dict[str, str]:
    record = _read_ours(folder / LEDGER_NAME)
    files = (record or {}).get("files")
    return files if isinstance(files, dict) else {}


def _owned(path: Path) -> bool:
    """May this tool replace `path`? In its own cache folder, yes; in a folder the user named
    (TOOLPRMBENCH_CACHE_DIR), only a file its ledger lists."""
    if not os.environ.get("TOOLPRMBENCH_CACHE_DIR"):
        return True
    try:
        return path.name in _ledger(path.parent)
    except DataError:
        return False


def _record_written(folder: Path, name: str, digest: str) -> None:
    files = _ledger(folder)
    _write_json_atomic(folder / LEDGER_NAME, {"written_by": _MARK, "files": {**files, name: digest}})


def first_use_path(pin: PinnedFile) -> Path:
    """Where the sha256 of the first copy used on this machine is kept (unpublished digests)."""
    return cache_dir() / f"{pin.filename}.first-use.json"


def _first_use(pin: PinnedFile) -> dict[str, Any] | None:
    record = _read_ours(first_use_path(pin))
    if record is not None and not isinstance(record.get("sha256"), str):
        raise DataError(f"{first_use_path(pin)}: no sha256 in this first-use record; delete it to trust the next copy used")
    return record


def _record_first_use(pin: PinnedFile, digest: str, size: int, records: int, source: str) -> None:
    path = first_use_path(pin)
    record = {"written_by": _MARK, "file": pin.filename, "sha256": digest, "size": size, "records": records,
              "source": source, "commit": PINNED_COMMIT,
              "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        _writable_cache()
        _write_json_atomic(path, record)
    except DataError as exc:  # a local copy stays usable where the cache folder is read-only
        logger.warning("toolprm-tasks: could not record the first-use sha256 of %s: %s", pin.filename, exc)
        return
    logger.info("toolprm-tasks: %s has no published digest: recorded the sha256 %s of this first copy used "
                "(%s) in %s", pin.filename, digest, source, path)


# ----------------------------------------------------------------------------- verification

def _read_cases(subset: str, path: Path, label: str, source: str) -> list[Case]:
    """Strict JSON, every record valid, at least one record; suspicious records are logged."""
    try:
        records = jsonio.read_records(path, name=label)
    except jsonio.JSONFileError as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    check = check_records(records, subset=subset, source=source)
    if check.errors:
        first, more = check.errors[0], len(check.errors) - 1
        suffix = f" (and {more} more problems in this file; `toolprmbench validate` lists them all)" if more else ""
        where = str(first).removeprefix(f"{first.source}: ")  # the label names the file (path or download)
        raise DataError(f"{label}: {where}{suffix}")
    if check.warnings:
        listed = "; ".join(str(w) for w in check.warnings[:3])
        logger.warning("toolprm-tasks: %s: %d suspicious record(s), scored as they are: %s%s", label,
                       len(check.warnings), listed, " ..." if len(check.warnings) > 3 else "")
    return check.cases


@dataclass(frozen=True)
class _Verdict:
    digest: str
    verified: bool
    unpinned: bool
    cases: list[Case]
    first_use: bool  # no digest is published and none recorded yet: this copy may become the reference


def _verify(pin: PinnedFile, path: Path, *, label: str, allow_unpinned: bool, downloaded: bool = False,
            digest: str | None = None) -> _Verdict:
    """Everything that can be verified about one copy of an official file; raises DataError.

    A download (`downloaded`) must be the release: allow_unpinned then only accepts a file
    that differs from the first-used copy of a file without a published digest.
    """
    digest = digest or sha256_file(path)
    verified = pin.sha256 is not None and digest == pin.sha256
    unpinned = False
    if pin.sha256 is not None and not verified:
        size = path.stat().st_size
        if downloaded and pin.size is not None and size != pin.size:
            raise DataError(f"{label}: size {size} bytes, expected {pin.size}")
        if downloaded or not allow_unpinned:
            raise DataError(
                f"{label}: sha256 {digest} does not match the pinned {pin.sha256} "
                f"({PINNED_REPO}@{PINNED_COMMIT[:12]}, {pin.filename}). Use the pinned file, or set "
                f"TOOLPRMBENCH_ALLOW_UNPINNED=1 to evaluate this copy anyway (results are marked unpinned).")
        unpinned = True
    cases = _read_cases(pin.subset, path, label, pin.filename)
    if not unpinned and len(cases) != pin.cases:
        if verified or downloaded or not allow_unpinned:
            raise DataError(f"{label}: {len(cases)} records, the release has {pin.cases}"
                            + ("" if verified or downloaded else
                               "; set TOOLPRMBENCH_ALLOW_UNPINNED=1 to evaluate this copy anyway (marked unpinned)"))
        unpinned = True
    first_use = False
    if pin.sha256 is None and not unpinned:
        record = _first_use(pin)
        if record is None:
            first_use = not allow_unpinned  # opting into unpinned data never establishes trust
        elif record["sha256"] != digest:
            if not allow_unpinned:
                raise _Untrusted(
                    f"{label}: sha256 {digest} differs from {record['sha256']}, the copy of {pin.filename} first "
                    f"used on this machine ({record.get('recorded_at')}, from {record.get('source')}). Its digest "
                    f"is not published, so that first copy is the reference. Set TOOLPRMBENCH_ALLOW_UNPINNED=1 to "
                    f"evaluate this copy anyway (results are marked unpinned), or delete {first_use_path(pin)} "
                    f"to trust the next copy used instead.")
            unpinned = True
    return _Verdict(digest, verified, unpinned, cases, first_use)


# ----------------------------------------------------------------------------- downloads

def download(pin: PinnedFile, *, retries: int = 3, timeout: float = 60.0, backoff: float | None = None,
             deadline: float | None = None, max_bytes: int | None = None) -> Path:
    """Fetch one pinned file into the cache atomically; retried on transient errors.

    The file only appears under its final name after it verified (size and digest where
    pinned, strict JSON, every record valid, the release's record count), so an interrupted,
    oversized or wrong transfer never leaves a bad cache entry behind. `deadline` (seconds,
    default TOOLPRMBENCH_DOWNLOAD_DEADLINE) bounds all attempts together; a stalled read adds
    at most `timeout`. A file without a pinned size is capped at `max_bytes` (default
    TOOLPRMBENCH_MAX_DOWNLOAD_BYTES). See `fetch` for the transfer itself.
    """
    deadline = _env_number("TOOLPRMBENCH_DOWNLOAD_DEADLINE", DEFAULT_DEADLINE_S) if deadline is None else deadline
    backoff = RETRY_BACKOFF_S if backoff is None else backoff
    if pin.size is not None:
        limit, why = pin.size, "the pinned size"
    else:
        limit = max_bytes or int(_env_number("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", DEFAULT_MAX_BYTES))
        why = "TOOLPRMBENCH_MAX_DOWNLOAD_BYTES; no size is pinned"
    folder = _writable_cache()
    target = folder / pin.filename
    if target.exists() and not _owned(target):
        raise DataError(_not_ours(target, "a download would replace it"))
    url = _url(pin)
    allow = _env_flag("TOOLPRMBENCH_ALLOW_UNPINNED")

    def accept(tmp: Path) -> None:
        try:
            verdict = _verify(pin, tmp, label="the downloaded file", allow_unpinned=allow, downloaded=True)
        except _Untrusted:
            raise  # the mirror serves another file than the first used: retrying will not help
        except (DataError, RecordError) as exc:
            raise fetch.Rejected(str(exc)) from None
        _record_written(folder, pin.filename, verdict.digest)  # before the rename: never unlisted
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise fetch.LocalWriteError(folder, exc) from None
        if verdict.first_use:
            _record_first_use(pin, verdict.digest, target.stat().st_size, len(verdict.cases), url)

    try:
        fetch.fetch(url, folder, accept, limit=limit, why=why, retries=retries, timeout=timeout, backoff=backoff,
                    deadline=deadline, deadline_name="TOOLPRMBENCH_DOWNLOAD_DEADLINE")
    except fetch.FetchError as exc:
        raise DataUnavailable(pin.subset, f"could not download {pin.filename} from {url}: {exc}") from None
    except fetch.LocalWriteError as exc:
        raise DataError(_not_writable(folder, exc.error)) from None
    return target


# ----------------------------------------------------------------------------- loading

def read_records(path: Path) -> Any:
    """A release file: a JSON list (test files) or JSON Lines (training files); strict JSON."""
    try:
        return jsonio.read_records(path)
    except jsonio.JSONFileError as exc:
        raise DataError(str(exc)) from None


_LOADED: dict[tuple[str, str], LoadedSubset] = {}


def _load_verified(pin: PinnedFile, path: Path, *, allow_unpinned: bool) -> LoadedSubset:
    digest = sha256_file(path)
    key = (str(path), digest)
    if key not in _LOADED:
        verdict = _verify(pin, path, label=str(path), allow_unpinned=allow_unpinned, digest=digest)
        if verdict.first_use:
            _record_first_use(pin, digest, path.stat().st_size, len(verdict.cases), str(path))
        _LOADED[key] = LoadedSubset(pin.subset, path, digest, verdict.verified, verdict.unpinned, verdict.cases)
        if verdict.unpinned:
            logger.warning("toolprm-tasks: evaluating UNPINNED data %s (sha256 %s, pinned %s): results are "
                           "not comparable with the official benchmark", path, digest, pin.sha256 or "not published")
    return _LOADED[key]


def locate(subset: str, *, fetch: bool = True, split: str = "test") -> LoadedSubset:
    """Find (and if needed download) a subset file, verified and validated: the local copy in
    TOOLPRMBENCH_DATA_DIR if set, else the cache."""
    pin = pinned_file(subset, split)
    data_dir = os.environ.get("TOOLPRMBENCH_DATA_DIR")
    if data_dir:
        path = Path(data_dir).expanduser() / pin.filename
        if not path.is_file():
            raise DataError(f"TOOLPRMBENCH_DATA_DIR={data_dir} has no {pin.filename} (subset {subset}): put the "
                            f"release file there (verified against its pin), or unset TOOLPRMBENCH_DATA_DIR to "
                            f"use the cache ({cache_dir()})")
        return _load_verified(pin, path, allow_unpinned=_env_flag("TOOLPRMBENCH_ALLOW_UNPINNED"))
    return cached(subset, fetch=fetch, split=split)


def cached(subset: str, *, fetch: bool = True, split: str = "test") -> LoadedSubset:
    """The cache's copy of a subset file (downloaded if missing or no longer verifying)."""
    pin = pinned_file(subset, split)
    path = cache_dir() / pin.filename
    # the cache only ever holds verified release files; the opt-in only concerns a file
    # without a published digest that differs from its first-used copy
    allow = _env_flag("TOOLPRMBENCH_ALLOW_UNPINNED") and pin.sha256 is None
    if path.is_file():
        try:
            return _load_verified(pin, path, allow_unpinned=allow)
        except DataError as exc:
            if not _owned(path):
                raise DataError(_not_ours(path, f"it does not verify ({exc})")) from None
            logger.warning("toolprm-tasks: the cached %s does not verify (%s): fetching it again", path, exc)
    if not fetch:
        raise DataUnavailable(subset, f"{pin.filename} is not in the cache {cache_dir()} (`toolprmbench download` "
                                      "fetches it)")
    download(pin)
    return _load_verified(pin, path, allow_unpinned=allow)


def load_subset(subset: str, split: str = "test") -> LoadedSubset:
    """Locate, verify and validate one subset's test file, or its training file (`split="train"`,
    BFCL and ToolSandbox only); memoised per file digest within a process."""
    pinned_file(subset, split)  # an unknown subset or a missing training file, before any I/O
    return locate(subset, split=split)


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
    from dataclasses import replace

    from toolprm_tasks.rebuild.difficulty import in_tier

    cases = [case for case in loaded.cases if in_tier(case.provenance, tier)]
    if not cases:
        raise DataError(f"{loaded.path}: no case of the {tier} tier (a build older than version 6 has no "
                        "difficulty field; rebuild it)")
    return replace(loaded, cases=cases, tier=tier)


# ----------------------------------------------------------------------------- rebuilt data

REBUILT_SUBSETS: tuple[str, ...] = ("bfcl", "tooltalk")


def default_rebuilt_dir(seed: int = 0) -> Path:
    """The cache folder of this tool's default rebuilt set: build version, the digest of the code
    that writes it (a change never reuses a stale build) and seed in its name."""
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


def default_built(subset: str, seed: int = 0) -> bool:
    """Whether the default rebuilt folder holds `subset`'s cases and manifest."""
    path, manifest = _rebuilt_files(default_rebuilt_dir(seed), subset)
    return path.is_file() and manifest.is_file()


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
    from toolprm_tasks.rebuild.build import Models, build

    wanted = [s for s in subsets if not (missing_only and default_built(s, seed))]
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


def load_rebuilt(subset: str, seed: int = 0, split: str = "test") -> LoadedSubset:
    """The rebuilt (offline) cases of one source and split (`test`, the default, or `train`),
    verified against their manifest. Reads TOOLPRMBENCH_REBUILT_DIR if set, else the default
    build (`default_rebuilt_dir`); never builds: a missing default build is `NotBuilt`, whose
    one line names the command (one build writes both splits)."""
    configured = os.environ.get("TOOLPRMBENCH_REBUILT_DIR")
    folder = Path(configured).expanduser() if configured else default_rebuilt_dir(seed)
    path, manifest_path = _rebuilt_files(folder, subset, split)
    if subset not in REBUILT_SUBSETS and not path.is_file():
        from toolprm_tasks.data.offline import no_rebuilt_set

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
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        what = "a JSON object" if not isinstance(manifest, dict) else "a `files` object (file name: sha256)"
        raise DataError(f"{manifest_path}: not a build manifest (expected {what}); {redo}")
    digest = sha256_file(path)
    if digest != files.get(path.name):
        raise DataError(f"{path}: sha256 {digest} does not match its manifest {manifest_path.name} "
                        f"({files.get(path.name)}); {redo}")
    key = (str(path), digest)
    if key not in _LOADED:
        cases = _read_cases(subset, path, str(path), path.name)
        counted = manifest.get("cases") if split == "test" else \
            ((manifest.get("splits") or {}).get(split) or {}).get("cases")
        if isinstance(counted, int) and counted != len(cases):
            raise DataError(f"{path}: {len(cases)} records, its manifest says {counted}; {redo}")
        _LOADED[key] = LoadedSubset(subset, path, digest, True, False, cases, data="rebuilt")
    return _LOADED[key]


def describe_data(fp: dict[str, Any]) -> str:
    """What a fingerprint (`fingerprint`) names, in words shown above every table."""
    if fp["data"] == "official":
        return f"ToolPRMBench @ {fp['repo']} {fp['commit'][:12]}" + ("  (UNPINNED data)" if fp["unpinned"] else "")
    return "ToolPRMBench-style cases REBUILT from executable sources (not the paper's data)"


def fingerprint(loaded: Iterable[LoadedSubset]) -> dict[str, Any]:
    """What results carry: per-file digests and one combined digest over them."""
    loaded = list(loaded)
    files = {item.subset: item.fingerprint() for item in loaded}
    combined = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    data = sorted({item.data for item in loaded})
    info = {"data": data[0] if len(data) == 1 else data, "sha256": combined, "files": files,
            "unpinned": any(f["unpinned"] for f in files.values())}
    if "official" in data:
        info.update({"repo": PINNED_REPO, "commit": PINNED_COMMIT})
    return info
