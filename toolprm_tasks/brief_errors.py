"""Expected errors of task loading (data missing, a source package missing) shown by the
frameworks' command lines as their message, without a traceback; library callers still get
an ordinary exception they can catch.

How each framework surfaces an exception raised while a task is built:
- Inspect 0.3.285: the `@task` function runs inside the click command; nothing catches what
  it raises, and the CLI's `sys.excepthook` (inspect_ai/_util/error.py) prints a
  `PrerequisiteError` as its message alone (other exceptions as a traceback). So the Inspect
  tasks raise (`for_inspect`) a `DataError` (what callers of the task functions catch) that is
  also a `PrerequisiteError`. That class is private to Inspect; if a later release moves it,
  the error is a plain `DataError` and its message ends a traceback again.
- lm-eval 0.4.13 has no such type: an exception from `custom_dataset` (our `load_docs`, called
  while `TaskManager` builds the task) propagates through `simple_evaluate` to `cli_evaluate`
  uncaught, and Python prints 60 lines of traceback before the advice. We do what Inspect
  does: in the `lm_eval` command's own process only, a `sys.excepthook` prints an uncaught
  error marked by `for_lm_eval` as its message (exit status 1) and passes every other
  exception to the hook it replaced. Printing and raising `SystemExit` from `load_docs`
  instead would also end a library caller's process (`simple_evaluate` in a notebook or a
  script); the hook changes nothing unless the error reaches the top of the command uncaught.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from toolprm_tasks.core.safe_text import visible
from toolprm_tasks.data import DataError

PREFIX = "toolprm-tasks: "
_MARK = "_toolprm_shown_briefly"
_LM_EVAL_COMMANDS = ("lm_eval", "lm-eval")


@functools.cache
def _inspect_task_error() -> type[DataError]:
    """`DataError` + Inspect's `PrerequisiteError`, made on first use: importing inspect_ai costs
    seconds, which an lm-eval run must not pay."""
    try:
        from inspect_ai._util.error import (
            PrerequisiteError,  # inspect-evals-lint: ignore[private_api_imports] -- see the module notes
        )
    except ImportError:  # a release that moved it: an ordinary DataError (message after a traceback)
        return DataError

    class InspectTaskError(DataError, PrerequisiteError):
        """A task's data could not be had: Inspect's CLI shows the message alone."""

        def __init__(self, message: str) -> None:
            DataError.__init__(self, message)
            self.message = PREFIX + visible(message)  # what Inspect's exception hook prints

    return InspectTaskError


def for_inspect(exc: Exception) -> DataError:
    """`exc` (raised while an Inspect task loads its data) as a `DataError` that Inspect's
    command line shows as its message alone."""
    return _inspect_task_error()(str(exc))


def _marked(exc: BaseException | None) -> BaseException | None:
    """The error of ours marked `for_lm_eval` in `exc`'s chain (a framework may wrap it)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if getattr(exc, _MARK, False):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def running_lm_eval_command() -> bool:
    """Whether this process is lm-eval's command line (`lm_eval ...` or `python -m lm_eval`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and (spec.name or "").split(".")[0] == "lm_eval":
        return True
    return bool(sys.argv) and Path(sys.argv[0]).name in _LM_EVAL_COMMANDS


def _excepthook(previous: Any) -> Any:
    def hook(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
        ours = _marked(value)
        if ours is None:
            previous(kind, value, traceback)
            return
        sys.stderr.write(PREFIX + visible(ours) + "\n")
        sys.stderr.flush()

    hook.toolprm_brief = True  # type: ignore[attr-defined]
    return hook


def for_lm_eval(exc: Exception) -> Exception:
    """`exc` marked so that, should it end the `lm_eval` command uncaught, the command prints its
    message alone; the hook is installed (once) only in that command's process."""
    setattr(exc, _MARK, True)
    if running_lm_eval_command() and not getattr(sys.excepthook, "toolprm_brief", False):
        sys.excepthook = _excepthook(sys.excepthook)
    return exc
