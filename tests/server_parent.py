"""A parent process that starts our server, for the lifecycle tests:

    python tests/server_parent.py ENTRY_POINT MODEL END [SERVER FLAG ...]

Starts `VLLMServer(MODEL, flags, entry_point=ENTRY_POINT)`, prints one line
`READY {"pid": ..., "port": ..., "log": ...}` and then ends as END says: `wait` (until a
signal comes), `exit` (returns normally) or `raise` (an uncaught exception); `framework`
(wait, with a SIGTERM handler of a framework installed first: it prints FRAMEWORK and exits
with code 3), `nohup` (wait, SIGHUP ignored first), `fork` (then wait: forked
children end, one by SIGTERM, one by sys.exit, first) or `thread` (wait; the server is started
from a thread that has ended by the time READY is printed). SIGINT and SIGHUP start at their
defaults whatever this process inherited. Environment: STOP_TIMEOUT, the server's stop_timeout (default 5 s); TAKEN_PORT, a port another
process listens on, chosen first for the server (a port race).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from toolprm_tasks.engines import vllm_server
    from toolprm_tasks.engines.vllm_server import VLLMServer

    if os.environ.get("TAKEN_PORT"):
        ports = [int(os.environ["TAKEN_PORT"])]
        free_port = vllm_server._free_port
        vllm_server._free_port = lambda: ports.pop() if ports else free_port()

    entry_point, model, end, *flags = sys.argv[1:]
    # An ordinary program started from a terminal: SIGINT raises KeyboardInterrupt, SIGHUP ends
    # it. A suite started under `nohup` or a CI runner that ignores them would hand the ignored
    # dispositions down (an ignored signal stays ignored across fork and exec, and Python then
    # installs no KeyboardInterrupt handler), and the product rightly leaves an ignored signal
    # ignored (engines/exit_hooks.py): the endings under test would never happen.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if end == "framework":
        def framework_handler(signum: int, frame: object) -> None:
            print("FRAMEWORK", flush=True)
            raise SystemExit(3)

        signal.signal(signal.SIGTERM, framework_handler)
    if end == "nohup":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    servers: list[VLLMServer] = []

    def start() -> None:
        servers.append(VLLMServer(model, flags, entry_point=entry_point, startup_timeout=600,
                                  stop_timeout=float(os.environ.get("STOP_TIMEOUT", "5"))))

    if end == "thread":
        starter = threading.Thread(target=start)
        starter.start()
        starter.join()
    else:
        start()
    server = servers[0]
    print("READY " + json.dumps({"pid": server.process.pid, "port": server.port, "log": server.log_path,
                                  "port_races": server.port_races}), flush=True)
    if end == "raise":
        raise RuntimeError("the run failed")
    if end == "fork":  # a worker (forked: it inherits our handlers) killed by SIGTERM, one that exits
        for how in ("sigterm", "exit"):
            child = os.fork()
            if child == 0:
                if how == "sigterm":
                    os.kill(os.getpid(), signal.SIGTERM)
                sys.exit(0)
            _, status = os.waitpid(child, 0)
            print(f"CHILD {how} {status}", flush=True)
        print("FORKED", flush=True)
    if end != "exit":
        while True:
            time.sleep(1)
