"""Runs a server's entry point in this process and stops it, with everything it started, when
the process that launched it dies in any way (SIGKILL included).

    python -m toolprm_tasks.engines.server_launcher --parent PID [--pdeathsig] [--grace S] [--log PATH] \
        MODULE [ARG ...]

`VLLMServer` starts this in a session of its own, so this process leads a process group
that holds the server and all it spawns (vLLM's engine core and workers). Then:
- a watchdog thread polls the parent: once this process has been handed to another parent
  (its own died), it starts the reaper below and the group is stopped;
- on Linux, when asked (`--pdeathsig`), the kernel also sends SIGTERM at once when the parent
  dies (PR_SET_PDEATHSIG through prctl): vLLM's own handler starts a clean shutdown at once
  (until vLLM installs it, ours starts the reaper, then ends this process by the signal). The
  parent asks only when it starts us from its main thread: the kernel signals when the
  *thread* that forked ends, not the process;
- MODULE runs as `python -m MODULE ARG ...` would (vLLM's api_server), in this process.

The reaper (`--reap PGID`) is a process outside the group, started with `-I -S` from this
file (standard library only, so it starts in milliseconds): `stop_group` (SIGTERM to the
server, which shuts its engine core down cleanly, or to the group if the server is gone; up to
`--grace` seconds for it to go; SIGKILL to what is left), after removing the server's log
file, which nobody will read now. Only the standard library is imported
here: the reaper runs this file without site-packages.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_SECONDS = 0.2
DEFAULT_GRACE = 10.0


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (zombies excluded: they hold no resources and
    vanish when reaped). Linux reads /proc; elsewhere any member, zombie or not, counts."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass  # the group exists, its members are another user's
        return [pgid]
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def stop_group(pgid: int, grace: float, log: str | None = None, reap: Callable[[], object] | None = None) -> bool:
    """SIGTERM to the group's leader while it lives, else to the group; up to `grace` seconds
    for the group to go; then SIGKILL to what is left. Removes `log` first (nobody will read
    it; the server may write on into the unlinked file). `reap`: called while waiting (the
    leader's parent reaps it). Whether the group is gone.

    The leader first: vLLM's API server stops its own engine core on SIGTERM. Signalled
    together, the core can die before the server begins its shutdown, and the server logs
    "engine core exited unexpectedly" and kills what is left at once."""
    if log:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log)
    first = os.kill if pgid in group_members(pgid) else os.killpg  # the leader's pid is the group's id
    for send, sig in ((first, signal.SIGTERM), (os.killpg, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError):
            send(pgid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if reap is not None:
                reap()
            if not group_members(pgid):
                return True
            time.sleep(0.1)
    if reap is not None:
        reap()
    return not group_members(pgid)


def start_reaper(pgid: int, grace: float, log: str | None) -> None:
    """A process outside the group (a session of its own) that stops it: it outlives the
    SIGTERM it sends there, which ends this process too."""
    command = [sys.executable, "-I", "-S", os.path.abspath(__file__), "--reap", str(pgid), "--grace", str(grace)]
    subprocess.Popen(command + (["--log", log] if log else []), start_new_session=True,  # noqa: S603 - our own file
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def set_parent_death_signal(sig: int) -> bool:
    """Linux: the kernel sends `sig` to this process when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent: int, grace: float, log: str | None) -> None:
    """Until this process's main thread ends: once the parent is gone (we were handed to
    another parent), start the reaper. A non-daemon thread, so that an interpreter shutting
    down after the parent's death still starts it."""
    main = threading.main_thread()
    while True:
        if os.getppid() != parent:
            start_reaper(os.getpgrp(), grace, log)
            return
        if not main.is_alive():
            return
        time.sleep(POLL_SECONDS)


def install_sigterm_handler(parent: int, grace: float, log: str | None) -> None:
    """Until the entry point installs its own (vLLM does): SIGTERM still ends this process, but
    when it is the parent-death signal, the reaper is started first (the watchdog thread
    would die with the process before noticing)."""

    def on_sigterm(signum: int, frame: object) -> None:
        if os.getppid() != parent:
            start_reaper(os.getpgrp(), grace, log)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigterm)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="server_launcher", description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, help="the pid whose death stops the server")
    parser.add_argument("--pdeathsig", action="store_true", help="also ask Linux for SIGTERM when the parent dies")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--log", help="the server's log file, removed when the parent is gone")
    parser.add_argument("--reap", type=int, metavar="PGID", help="stop this process group (the reaper)")
    parser.add_argument("module", nargs="?", help="the entry point, run as `python -m MODULE ARG ...`")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the entry point's arguments")
    args = parser.parse_args(argv)
    if args.reap is None and (args.parent is None or not args.module):
        parser.error("--parent PID and MODULE are needed (or --reap PGID)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.reap is not None:
        sys.exit(0 if stop_group(args.reap, args.grace, args.log) else 1)
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)  # lead a group of our own: stopping it must never reach the parent's
    if args.pdeathsig:
        install_sigterm_handler(args.parent, args.grace, args.log)
        set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != args.parent:  # the parent died before we could watch it
        start_reaper(os.getpgrp(), args.grace, args.log)
        sys.exit(1)
    threading.Thread(target=watch_parent, args=(args.parent, args.grace, args.log), name="parent-watchdog",
                     daemon=False).start()
    sys.argv = [args.module, *args.args]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
