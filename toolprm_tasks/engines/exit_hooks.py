"""Run clean-up callbacks on every way this process can end: normal exit, an uncaught
exception, SIGINT, SIGTERM and SIGHUP.

`atexit` covers a normal exit, an exception and SIGINT (Python turns it into
KeyboardInterrupt), but SIGTERM and SIGHUP kill a process without running `atexit`. So, from
the main thread (the only one that may install signal handlers), a handler is installed for
each of these signals, once per process, and only where it changes nothing else:
- over a signal's default action (terminate): run the callbacks, restore the default
  action and send the signal again, so the process still ends by that signal;
- over a Python handler (a framework's own): call that handler and let it decide; if the
  process then ends, `atexit` runs the callbacks, and if the handler lets it go on, the
  server is still wanted;
- an ignored signal (SIG_IGN, e.g. under `nohup`) or a handler set outside Python is left
  alone: the process does not end by it, or we cannot chain to it.
A handler that a framework installs later replaces this one; the server's own watchdog
(`server_launcher`) still stops it when this process dies. A forked child (a worker pool's)
inherits the handlers and `atexit` list: callbacks run only in the process that registered
them, so a worker ended by SIGTERM never stops its parent's server.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SIGNALS: tuple[int, ...] = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT")
                                 if hasattr(signal, name))

_callbacks: dict[int, tuple[int, Callable[[], None]]] = {}  # key -> (the registering pid, callback)
_previous: dict[int, Any] = {}  # signal -> the disposition our handler replaced
_ids = itertools.count()
_lock = threading.RLock()  # re-entrant: a signal may arrive while the main thread holds it


def register(callback: Callable[[], None]) -> int:
    """Run `callback` once when this process ends (any of the ways above); a key for
    `unregister`. At a normal exit the callbacks run before every `atexit` handler registered
    before this call (atexit runs last in, first out, and each call moves ours to the end):
    so a callback that closes an object runs before that object's own exit handlers (vLLM's
    engine core is torn down by `weakref.finalize`, an atexit handler of its own)."""
    with _lock:
        key = next(_ids)
        _callbacks[key] = (os.getpid(), callback)
        atexit.unregister(run_callbacks)
        atexit.register(run_callbacks)
    install_handlers()
    return key


def unregister(key: int) -> None:
    with _lock:
        _callbacks.pop(key, None)


def run_callbacks() -> None:
    """Run (and forget) every callback this process registered; a failing one is logged, the
    others run."""
    with _lock:
        callbacks = [callback for pid, callback in _callbacks.values() if pid == os.getpid()]
        _callbacks.clear()
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one failed clean-up must not stop the others
            logger.exception("toolprm-tasks: a clean-up callback failed at exit")


def install_handlers() -> None:
    """Install the chaining handler for SIGTERM, SIGHUP and SIGINT (see the module's notes);
    outside the main thread nothing can be installed and nothing is."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        for sig in SIGNALS:
            if sig in _previous:
                continue  # once per process: never chain to a handler that chains back to us
            current = signal.getsignal(sig)
            if current is None or current == signal.SIG_IGN:
                continue
            _previous[sig] = current
            signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # the framework's handler decides; atexit follows an exit
        return
    # the default action would end the process without atexit: clean up, then end by it
    run_callbacks()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
