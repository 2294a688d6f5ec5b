"""The official ToolPRMBench files (test and train): fetched once into the cache, verified on every read.

Every file is verified before it is used and every download before it is cached: its size
and sha256 where pinned (`pins`); where no digest is published, that it matches the first copy
used on this machine (`cache`, trust on first use); that it is strict JSON (`jsonio`), that
every record validates and that it has the release's number of records. See docs/data.md.

Environment:
- TOOLPRMBENCH_DATA_DIR: read a local copy instead of the cache (verified against the pins).
- TOOLPRMBENCH_ALLOW_UNPINNED=1: accept a local copy whose digest differs (recorded as unpinned).
- TOOLPRMBENCH_BASE_URL: a mirror of the raw-file host (must serve `<base>/<file>`).
- TOOLPRMBENCH_DOWNLOAD_DEADLINE: seconds one file's download may take, retries included.
- TOOLPRMBENCH_MAX_DOWNLOAD_BYTES: the size cap for a file whose size is not pinned.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.core import fetch
from toolprm_tasks.core.cases import Case, RecordError
from toolprm_tasks.data import jsonio, pins
from toolprm_tasks.data.cache import (
    cache_dir,
    first_use_path,
    first_use_record,
    not_ours,
    not_writable,
    owned,
    record_first_use,
    record_written,
    writable_cache,
)
from toolprm_tasks.data.errors import DataError, LocalRecordError, env_path
from toolprm_tasks.data.loaded import LoadedSubset, digest_of, read_cases, remembered
from toolprm_tasks.data.offline import DataUnavailable
from toolprm_tasks.data.pins import DEFAULT_BASE_URL, PINNED_COMMIT, PINNED_REPO, PinnedFile, pinned_file

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 600.0  # the largest file is 3 MB: ten minutes allows for 5 kB/s
RETRY_BACKOFF_S = 1.0  # first pause between attempts; doubled each time
DEFAULT_MAX_BYTES = 32 << 20  # ToolSandbox's size is unpublished; the other files are 0.4 to 3 MB


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _env_number(name: str, default: float, *, whole: bool = False) -> float:
    """A finite number > 0 from the environment; `whole`: a whole number >= 1 (a byte count)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0 and (not whole or (value >= 1 and value.is_integer()))):
        expected = "a whole number, at least 1" if whole else "a finite positive number"
        shown = f"{int(default)}" if whole else f"{default:g}"  # a byte count in full, never 3.35544e+07
        raise DataError(f"{name}={raw!r}: expected {expected} (or unset it for the default, {shown})")
    return int(value) if whole else value


def _url(pin: PinnedFile) -> str:
    base = os.environ.get("TOOLPRMBENCH_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/{pin.filename}"


class _Untrusted(DataError):
    """A file without a published digest that differs from the copy first used here."""


class _NotPinned(DataError):
    """A downloaded file whose sha256 is not the pinned one."""


class _NotPinnedCopy(fetch.Rejected):
    """The server's copy does not match the pin (retried: a transfer may have been garbled)."""


# ----------------------------------------------------------------------------- verification

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
    digest = digest or digest_of(path, label)
    verified = pin.sha256 is not None and digest == pin.sha256
    unpinned = False
    if pin.sha256 is not None and not verified:
        size = path.stat().st_size
        if downloaded and pin.size is not None and size != pin.size:
            raise DataError(f"{label}: size {size} bytes, expected {pin.size}")
        if downloaded:  # the opt-in is for local copies only
            raise _NotPinned(f"{label}: sha256 {digest} does not match the pinned {pin.sha256}")
        if not allow_unpinned:
            raise DataError(
                f"{label}: sha256 {digest} does not match the pinned {pin.sha256} "
                f"({PINNED_REPO}@{PINNED_COMMIT[:12]}, {pin.filename}). Use the pinned file, or set "
                f"TOOLPRMBENCH_ALLOW_UNPINNED=1 to evaluate this copy anyway (results are marked unpinned).")
        unpinned = True
    cases = read_cases(pin.subset, path, label, pin.filename, digest=digest)
    if not unpinned and len(cases) != pin.cases:
        if verified or downloaded or not allow_unpinned:
            raise DataError(f"{label}: {len(cases)} records, the release has {pin.cases}"
                            + ("" if verified or downloaded else
                               "; set TOOLPRMBENCH_ALLOW_UNPINNED=1 to evaluate this copy anyway (marked unpinned)"))
        unpinned = True
    first_use = False
    if pin.sha256 is None and not unpinned:
        record = first_use_record(pin)
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
        limit = max_bytes or int(_env_number("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", DEFAULT_MAX_BYTES, whole=True))
        why = "TOOLPRMBENCH_MAX_DOWNLOAD_BYTES; no size is pinned"
    folder = writable_cache()
    target = folder / pin.filename
    if target.exists() and not owned(target):
        raise DataError(not_ours(target, "a download would replace it"))
    url = _url(pin)
    allow = _env_flag("TOOLPRMBENCH_ALLOW_UNPINNED")

    def accept(tmp: Path) -> None:
        try:
            verdict = _verify(pin, tmp, label="the downloaded file", allow_unpinned=allow, downloaded=True)
        except (_Untrusted, LocalRecordError):
            raise  # another file than the first used, or a damaged record of ours: retrying will not help
        except _NotPinned as exc:
            raise _NotPinnedCopy(str(exc)) from None
        except (DataError, RecordError) as exc:
            raise fetch.Rejected(str(exc)) from None
        record_written(folder, pin.filename, verdict.digest)  # before the rename: never unlisted
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise fetch.LocalWriteError(folder, exc) from None
        if verdict.first_use:
            record_first_use(pin, verdict.digest, target.stat().st_size, len(verdict.cases), url)

    try:
        fetch.fetch(url, folder, accept, limit=limit, why=why, retries=retries, timeout=timeout, backoff=backoff,
                    deadline=deadline, deadline_name="TOOLPRMBENCH_DOWNLOAD_DEADLINE")
    except fetch.FetchError as exc:
        if isinstance(exc.rejected, _NotPinnedCopy):  # the server answers, with another file: not "offline"
            raise DataError(
                f"could not download {pin.filename} from {url}: the server's copy does not match the pin "
                f"({PINNED_REPO}@{PINNED_COMMIT[:12]}): {exc.rejected}; nothing was cached. Supply a verified copy: "
                f"put the release's {pin.filename} in a folder and set TOOLPRMBENCH_DATA_DIR to that folder (it is "
                f"verified against the pin), or set TOOLPRMBENCH_BASE_URL to a mirror that serves the release. "
                f"TOOLPRMBENCH_ALLOW_UNPINNED=1 applies to local copies only, never to downloads.") from None
        # a server that answered with something else (an HTML page, a body over the limit) is not "offline"
        raise DataUnavailable(pin.subset, f"could not download {pin.filename} from {url}: {exc}",
                              answered=exc.rejected is not None, filename=pin.filename) from None
    except fetch.LocalWriteError as exc:
        raise DataError(not_writable(folder, exc.error)) from None
    return target


# ----------------------------------------------------------------------------- loading

def read_records(path: Path) -> Any:
    """A release file: a JSON list (test files) or JSON Lines (training files); strict JSON."""
    try:
        return jsonio.read_records(path)
    except jsonio.JSONFileError as exc:
        raise DataError(str(exc)) from None


def _load_verified(pin: PinnedFile, path: Path, *, allow_unpinned: bool) -> LoadedSubset:
    digest = digest_of(path, str(path))

    def load() -> LoadedSubset:
        verdict = _verify(pin, path, label=str(path), allow_unpinned=allow_unpinned, digest=digest)
        if verdict.first_use:
            record_first_use(pin, digest, path.stat().st_size, len(verdict.cases), str(path))
        if verdict.unpinned:
            logger.warning("toolprm-tasks: evaluating UNPINNED data %s (sha256 %s, pinned %s): results are "
                           "not comparable with the official benchmark", path, digest, pin.sha256 or "not published")
        return LoadedSubset(pin.subset, path, digest, verdict.verified, verdict.unpinned, verdict.cases)

    return remembered((str(path), digest), load)


def locate(subset: str, *, fetch: bool = True, split: str = "test") -> LoadedSubset:
    """Find (and if needed download) a subset file, verified and validated: the local copy in
    TOOLPRMBENCH_DATA_DIR if set, else the cache."""
    pin = pinned_file(subset, split)
    data_dir = os.environ.get("TOOLPRMBENCH_DATA_DIR")
    if data_dir:
        path = (env_path("TOOLPRMBENCH_DATA_DIR") or Path(data_dir)) / pin.filename
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
        except LocalRecordError:
            raise  # a damaged record of ours: downloading again cannot fix it
        except DataError as exc:
            if not owned(path):
                raise DataError(not_ours(path, f"it does not verify ({exc})")) from None
            logger.warning("toolprm-tasks: the cached %s does not verify (%s): fetching it again", path, exc)
    if not fetch:
        fetched_by = "fetches it" if pin.filename == pins.PINNED_FILES[subset].filename else "fetches test files only"
        raise DataUnavailable(subset, f"{pin.filename} is not in the cache {cache_dir()} (`toolprmbench download` "
                                      f"{fetched_by})", filename=pin.filename)
    download(pin)
    return _load_verified(pin, path, allow_unpinned=allow)


def load_subset(subset: str, split: str = "test") -> LoadedSubset:
    """Locate, verify and validate one subset's test file, or its training file (`split="train"`,
    BFCL and ToolSandbox only); memoised per file digest within a process."""
    pinned_file(subset, split)  # an unknown subset or a missing training file, before any I/O
    return locate(subset, split=split)


