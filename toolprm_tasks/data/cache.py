"""The cache folder and the records this tool keeps there.

Where downloads go (TOOLPRMBENCH_CACHE_DIR, else the platform's user cache dir); the folder's
ledger of the files this tool wrote (in a folder the user named, only those are ever replaced);
and trust on first use: for a file whose digest is not published, the sha256 of the first copy
used on this machine, the reference every later copy must match. Files are written atomically.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from toolprm_tasks.core import fetch
from toolprm_tasks.data import jsonio
from toolprm_tasks.data.errors import DataError, LocalRecordError, env_path
from toolprm_tasks.data.pins import PINNED_COMMIT, PinnedFile

logger = logging.getLogger(__name__)

LEDGER_NAME = ".toolprm-tasks-files.json"  # in the cache folder: the files this tool wrote there
LEDGER_LOCK_NAME = ".toolprm-tasks-files.lock"  # beside it: held while the ledger is updated
_MARK = "toolprm-tasks"  # `written_by` in the ledger and first-use records: recognisably ours


def cache_dir() -> Path:
    """Where downloads and first-use records go: TOOLPRMBENCH_CACHE_DIR, else the user cache dir."""
    configured = env_path("TOOLPRMBENCH_CACHE_DIR")
    if configured:
        return configured
    return Path(user_cache_dir("toolprm-tasks")) / PINNED_COMMIT[:12]


def not_writable(folder: Path, exc: OSError) -> str:
    return (f"the cache folder {folder} is not writable ({exc.strerror or exc}): set TOOLPRMBENCH_CACHE_DIR "
            f"to a writable folder, or TOOLPRMBENCH_DATA_DIR to a folder that holds the data files")


def not_ours(path: Path, reason: str) -> str:
    return (f"{path}: {reason}. This file was not written by toolprm-tasks (TOOLPRMBENCH_CACHE_DIR "
            f"names a folder that is not the tool's own, and its ledger {LEDGER_NAME} does not list "
            f"the file), so it is left untouched: move it away, or point TOOLPRMBENCH_CACHE_DIR at a "
            f"folder of its own")


def writable_cache() -> Path:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(not_writable(folder, exc)) from None
    if not folder.is_dir():
        raise DataError(f"TOOLPRMBENCH_CACHE_DIR={folder} is not a folder")
    return folder


def _write_json_atomic(path: Path, value: Any) -> None:
    try:
        handle, tmp = fetch.partial_file(path.parent)
    except fetch.LocalWriteError as exc:
        raise DataError(not_writable(path.parent, exc.error)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(not_writable(path.parent, exc)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _read_ours(path: Path) -> dict[str, Any] | None:
    """A small JSON record this tool wrote (ledger, first-use record); None if absent;
    DataError if a file of that name exists but is not ours (it is never overwritten)."""
    if not path.exists():
        return None
    try:
        value = jsonio.read_json(path)
    except (jsonio.JSONFileError, OSError) as exc:
        value, detail = None, str(exc)
    else:
        detail = "valid JSON, but not written by toolprm-tasks"
    if not isinstance(value, dict) or value.get("written_by") != _MARK:
        raise LocalRecordError(
            f"{path}: not a record this tool writes ({detail}). It is one of toolprm-tasks' cache records "
            f"(the ledger or a first-use record), damaged or replaced; it is left untouched and downloading "
            f"again cannot fix it: move it away (a first-use record is then written again from the next "
            f"verified copy, which resets trust on first use for that file), or point TOOLPRMBENCH_CACHE_DIR "
            f"at a folder of its own")
    return value


def _ledger(folder: Path) -> dict[str, str]:
    record = _read_ours(folder / LEDGER_NAME)
    if record is None:
        return {}
    files = record.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        # rewriting it from {} would forget every file it lists (and so hand them to the user)
        raise LocalRecordError(f"{folder / LEDGER_NAME}: field 'files' is not an object of file name: sha256; "
                               f"the cache's ledger is damaged and is left untouched: move it away (the files "
                               f"it listed are then treated as not the tool's own) or point "
                               f"TOOLPRMBENCH_CACHE_DIR at a folder of its own")
    return files


def owned(path: Path) -> bool:
    """May this tool replace `path`? In its own cache folder, yes; in a folder the user named
    (TOOLPRMBENCH_CACHE_DIR), only a file its ledger lists. A damaged ledger is an error naming
    it (LocalRecordError), not a silent "no": the message must point at the ledger, not the file."""
    if not os.environ.get("TOOLPRMBENCH_CACHE_DIR"):
        return True
    return path.name in _ledger(path.parent)


def record_written(folder: Path, name: str, digest: str) -> None:
    """List `name` in the folder's ledger. The read-modify-write holds an exclusive lock on a
    file beside the ledger, so two processes downloading at once never drop each other's entry
    (a file the tool wrote would then be refused as not its own); the write stays atomic."""
    try:
        lock = os.open(folder / LEDGER_LOCK_NAME, os.O_CREAT | os.O_WRONLY, 0o644)
    except OSError as exc:
        raise DataError(not_writable(folder, exc)) from None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError as exc:  # a file system without flock: update it unlocked rather than not at all
            logger.warning("toolprm-tasks: could not lock %s (%s)", folder / LEDGER_LOCK_NAME, exc.strerror or exc)
        files = _ledger(folder)
        _write_json_atomic(folder / LEDGER_NAME, {"written_by": _MARK, "files": {**files, name: digest}})
    finally:
        os.close(lock)  # releases the lock


# ----------------------------------------------------------------------------- trust on first use

def first_use_path(pin: PinnedFile) -> Path:
    """Where the sha256 of the first copy used on this machine is kept (unpublished digests)."""
    return cache_dir() / f"{pin.filename}.first-use.json"


def first_use_record(pin: PinnedFile) -> dict[str, Any] | None:
    """The first-use record of a file without a published digest; None before its first use."""
    record = _read_ours(first_use_path(pin))
    if record is not None and not isinstance(record.get("sha256"), str):
        raise LocalRecordError(
            f"{first_use_path(pin)}: field 'sha256' is missing or not a string in this first-use record of "
            f"{pin.filename}; it is left untouched and downloading again cannot fix it: move it away (a first-use "
            f"record is then written again from the next verified copy, which resets trust on first use for "
            f"that file)")
    return record


def record_first_use(pin: PinnedFile, digest: str, size: int, records: int, source: str) -> None:
    path = first_use_path(pin)
    record = {"written_by": _MARK, "file": pin.filename, "sha256": digest, "size": size, "records": records,
              "source": source, "commit": PINNED_COMMIT,
              "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        writable_cache()
        _write_json_atomic(path, record)
    except DataError as exc:  # a local copy stays usable where the cache folder is read-only
        logger.warning("toolprm-tasks: could not record the first-use sha256 of %s: %s", pin.filename, exc)
        return
    logger.info("toolprm-tasks: %s has no published digest: recorded the sha256 %s of this first copy used "
                "(%s) in %s", pin.filename, digest, source, path)


