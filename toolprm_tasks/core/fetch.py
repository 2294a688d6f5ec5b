"""Fetching one file over HTTP(S) into a folder, bounded and clean (nothing benchmark-specific).

- The body streams into a partial file (`.toolprm-partial-*`) that a caller-supplied
  `accept` verifies and moves into place; it never outlives the call, also when SIGTERM or
  SIGHUP arrives during the transfer (the process then still ends by that signal).
- Never more than `limit` bytes are read: a larger announced length fails at once, a body
  without one is cut at the limit.
- One deadline covers every attempt; reads return what has arrived, so a server that drips
  a byte at a time is stopped within `timeout` of the deadline.
- A folder that cannot be written is a `LocalWriteError`: never retried, never confused with
  a network problem.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

PARTIAL_PREFIX = ".toolprm-partial-"


class FetchError(Exception):
    """No acceptable transfer within the attempts and the deadline; the message says why.
    `rejected`: the last attempt's `Rejected` where the server answered with something that is
    not the file (a caller may word that differently from an unreachable server), else None."""

    def __init__(self, message: str, rejected: Rejected | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected


class LocalWriteError(Exception):
    """The target folder cannot be written: not a network problem."""

    def __init__(self, folder: Path, error: OSError) -> None:
        super().__init__(f"{folder}: {error.strerror or error}")
        self.folder, self.error = folder, error


class Rejected(Exception):
    """Raised by `accept`: the transfer completed but is not the file (retried, unless `final`:
    another attempt cannot help, e.g. the server announces more than the limit)."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


class _Deadline(Exception):
    pass


class _Terminated(BaseException):
    """SIGTERM or SIGHUP during a transfer: unwinds so the partial file is removed first."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def partial_file(folder: Path) -> tuple[int, Path]:
    """A new temporary file in `folder`, to be renamed into place once verified."""
    try:
        handle, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=folder)
    except OSError as exc:
        raise LocalWriteError(folder, exc) from None
    return handle, Path(name)


@contextlib.contextmanager
def removing_partial_files_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception (main thread only) so `finally` blocks run, then
    end the process the way the signal would have, or call the handler that was installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None or signal.getsignal(signum) is signal.SIG_IGN:
            continue  # an ignored signal stays ignored
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)

    def restore() -> None:
        for signum, prior in previous.items():
            signal.signal(signum, prior if prior is not None else signal.SIG_DFL)

    try:
        yield
    except _Terminated as exc:
        restore()
        prior = previous.get(exc.signum)
        if callable(prior):
            prior(exc.signum, None)
        else:
            signal.raise_signal(exc.signum)
        raise FetchError(f"interrupted by signal {exc.signum}") from None
    finally:
        restore()


def _stream(url: str, out: BinaryIO, folder: Path, *, limit: int, why: str, timeout: float, stop_at: float) -> None:
    """Copy `url` into `out`, never more than `limit` bytes, giving up at `stop_at`."""
    request = urllib.request.Request(url, headers={"User-Agent": "toolprm-tasks"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        declared = resp.headers.get("Content-Length")
        expected = int(declared) if declared is not None and declared.strip().isdigit() else None
        if expected is not None and expected > limit:
            raise Rejected(f"the server announces {expected} bytes: more than {limit} bytes ({why})", final=True)
        written = 0
        while True:
            if time.monotonic() > stop_at:
                raise _Deadline()
            block = resp.read1(1 << 16)  # what has arrived: a dripping server cannot hold off the check
            if not block:
                break
            written += len(block)
            if written > limit:
                raise Rejected(f"more than {limit} bytes ({why}); stopped reading")
            try:
                out.write(block)
            except OSError as exc:
                raise LocalWriteError(folder, exc) from exc
        if expected is not None and written != expected:
            raise ConnectionError(f"transfer interrupted: {written} of {expected} bytes")
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise LocalWriteError(folder, exc) from exc


def fetch(url: str, folder: Path, accept: Callable[[Path], None], *, limit: int, why: str, retries: int,
          timeout: float, backoff: float, deadline: float, deadline_name: str) -> None:
    """Download `url` into a partial file in `folder` and hand it to `accept`, which verifies
    it and moves it into place (raising `Rejected` to try again, a final one to stop; any other
    exception ends the fetch). Transient network errors and 5xx/429 are retried with back-off, all within
    `deadline` seconds (`deadline_name` names its setting in the message)."""
    started = time.monotonic()
    last_error = "unknown error"
    rejected: Rejected | None = None  # the last attempt's failure, where it was a rejection
    with removing_partial_files_on_signals():
        for attempt in range(1, retries + 1):
            remaining = deadline - (time.monotonic() - started)
            if remaining <= 0:
                break
            handle, tmp = partial_file(folder)
            rejected = None
            try:
                with os.fdopen(handle, "wb") as out:
                    _stream(url, out, folder, limit=limit, why=why, timeout=min(timeout, remaining),
                            stop_at=started + deadline)
                accept(tmp)
                return
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500 and exc.code != 429:
                    break  # 404 and friends will not get better
            except _Deadline:
                break
            except Rejected as exc:
                last_error, rejected = str(exc), exc
                if exc.final:
                    break  # the same server will announce the same length again
            except LocalWriteError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                last_error = str(getattr(exc, "reason", exc)) or type(exc).__name__
            finally:
                tmp.unlink(missing_ok=True)
            if attempt < retries:
                time.sleep(max(0.0, min(backoff * 2 ** (attempt - 1), deadline - (time.monotonic() - started))))
    if time.monotonic() - started >= deadline:
        raise FetchError(f"no complete transfer within the {deadline:g} s deadline ({deadline_name})"
                         + (f"; last error: {last_error}" if last_error != "unknown error" else ""), rejected)
    raise FetchError(last_error, rejected)


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (every pin, manifest and model check uses this one)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
