"""Writing files so that a reader never sees half of one (reports, reading packets), and the
partial folders that a writer of several files (a build, a model conversion) fills first.

A partial folder (`<prefix><pid>-<random>`) holds a lock (`flock` on LOCK_NAME inside it) while
its process lives. A process killed outright (SIGKILL, a power cut) leaves it behind, and the
next writer removes it: only folders whose lock nobody holds are removed, never one that another
process is still writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from toolprm_tasks.core import fetch

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"  # inside a partial folder: locked while its process lives


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: set it back at once
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a reader sees the old file or the
    new, never half of one. The file gets the mode any new file would (0666 less the umask),
    not the temporary file's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def partial_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new `<prefix><pid>-...` folder in `parent`, locked while this process writes into it and
    removed when the block ends (an exception, KeyboardInterrupt, and through
    `fetch.removing_partial_files_on_signals` SIGTERM and SIGHUP too). What the block renames
    out of it stays; LOCK_NAME is never one of the caller's names."""
    with fetch.removing_partial_files_on_signals():
        tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
        lock = os.open(tmp / LOCK_NAME, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            os.close(lock)


def _writer_alive(folder: Path, prefix: str, legacy_stale_s: float | None) -> bool:
    """Whether a live process may still be writing a partial folder: its lock is held; without
    a lock file (killed before it made one, or an older version's), its pid runs or, for a name
    without one, it changed within `legacy_stale_s` (None: such a name is always alive)."""
    try:
        lock = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        pid = folder.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and "-" in folder.name[len(prefix):]:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True  # another user's live process
            return True
        return legacy_stale_s is None or time.time() - folder.stat().st_mtime < legacy_stale_s
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # a file system without flock: assume the writer lives (never remove a live one)
        return True
    finally:
        os.close(lock)
    return False


def remove_stale_partials(parent: Path, prefix: str, what: str, legacy_stale_s: float | None = None) -> list[Path]:
    """Remove the partial folders (`prefix`) in `parent` that no live process writes; returns
    what was removed, each logged as the partial folder of `what` that did not finish."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for folder in sorted(parent.iterdir()):
            if not folder.name.startswith(prefix) or not folder.is_dir() or folder.is_symlink():
                continue
            try:
                if _writer_alive(folder, prefix, legacy_stale_s):
                    continue
            except OSError:
                continue  # gone meanwhile, or unreadable: not ours to judge
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
                logger.warning("toolprm-tasks: removed %s, the partial folder of %s that did not finish", folder, what)
    return removed
