"""A loaded subset (official or rebuilt): its cases, where they came from, how they verified.

Also what both loaders share: reading a file's cases (strict JSON, every record valid), the
in-process memo of verified files, and the fingerprint results carry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.core.cases import Case, check_records
from toolprm_tasks.core.fetch import sha256_file
from toolprm_tasks.data import jsonio
from toolprm_tasks.data.errors import DataError
from toolprm_tasks.data.pins import PINNED_COMMIT, PINNED_REPO

logger = logging.getLogger(__name__)


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


def digest_of(path: Path, label: str) -> str:
    """sha256 of a data file; an unreadable one is a DataError naming it (not a bare OSError)."""
    try:
        return sha256_file(path)
    except OSError as exc:
        raise DataError(f"{label}: cannot be read ({exc.strerror or exc})") from None


def read_cases(subset: str, path: Path, label: str, source: str, *, digest: str | None = None) -> list[Case]:
    """Strict JSON, every record valid, at least one record; suspicious records are logged.
    `digest`: the sha256 the caller verified; the file must still have it after the read, so the
    records used are those of the bytes verified (a file replaced in between is refused)."""
    try:
        records = jsonio.read_records(path, name=label)
    except jsonio.JSONFileError as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    if digest is not None and digest_of(path, label) != digest:
        raise DataError(f"{label}: the file changed while it was read (it was verified as sha256 {digest}); "
                        f"run again once nothing is writing it")
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


_LOADED: dict[tuple[str, str], LoadedSubset] = {}  # (path, sha256): the file's verified cases


def remembered(key: tuple[str, str], load: Callable[[], LoadedSubset]) -> LoadedSubset:
    """The subset loaded under `key` (a file's path and digest) in this process, loaded once."""
    if key not in _LOADED:
        _LOADED[key] = load()
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


