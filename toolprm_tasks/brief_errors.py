"""Expected errors of task loading (data missing, a source package missing, a task parameter
or model option that is refused) shown by the frameworks' command lines as their message,
without a traceback; library callers still get the same kind of exception they can catch.

How each framework surfaces an exception raised while a task is built:
- Inspect 0.3.285: the `@task` function runs inside the click command; nothing catches what
  it raises, and the CLI's `sys.excepthook` (inspect_ai/_util/error.py) prints a
  `PrerequisiteError` as its message alone (other exceptions as a traceback). So the Inspect
  tasks raise (`for_inspect`) a `DataError` (what callers of the task functions catch) that is
  also a `PrerequisiteError`; a refused parameter or option is likewise its own class (a
  `ValueError`, an `OptionError`, ...) that is also a `PrerequisiteError` (`inspect_brief`).
  That class is private to Inspect; if a later release moves it, the error is the plain class
  and its message ends a traceback again.
- lm-eval 0.4.13 has no such type: an exception from `custom_dataset` (our `load_docs`, called
  while `TaskManager` builds the task) propagates through `simple_evaluate` to `cli_evaluate`
  uncaught, and Python prints 60 lines of traceback before the advice. We do what Inspect
  does: in the `lm_eval` command's own process only, a `sys.excepthook` prints an uncaught
  error marked by `for_lm_eval` as its message (exit status 1) and passes every other
  exception to the hook it replaced. Printing and raising `SystemExit` from `load_docs`
  instead would also end a library caller's process (`simple_evaluate` in a notebook or a
  script); the hook changes nothing unless the error reaches the top of the command uncaught.
  Refused `--metadata` values and `--model_args` are marked the same way (`lm_eval_brief`).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from toolprm_tasks.core.safe_text import visible
from toolprm_tasks.data import DataError

PREFIX = "toolprm-tasks: "
_MARK = "_toolprm_shown_briefly"
_LM_EVAL_COMMANDS = ("lm_eval", "lm-eval")


@functools.cache
def _inspect_brief_class(base: type[Exception]) -> type[Exception]:
    """`base` + Inspect's `PrerequisiteError`, made on first use: importing inspect_ai costs
    seconds, which an lm-eval run must not pay."""
    try:
        from inspect_ai._util.error import (
            PrerequisiteError,  # inspect-evals-lint: ignore[private_api_imports] -- see the module notes
        )
    except ImportError:  # a release that moved it: the plain class (message after a traceback)
        return base

    def __init__(self: Exception, message: str) -> None:
        base.__init__(self, message)
        self.message = PREFIX + visible(message)  # type: ignore[attr-defined]  # what Inspect's hook prints

    doc = f"{base.__name__} that Inspect's command line shows as its message alone."
    return type(f"Inspect{base.__name__}", (base, PrerequisiteError), {"__init__": __init__, "__doc__": doc})


def for_inspect(exc: Exception) -> Exception:
    """`exc` (raised while an Inspect task or model provider is made) as an error of its kind
    (a `DataError` for any data problem, else its own class) that Inspect's command line shows
    as its message alone."""
    base = DataError if isinstance(exc, DataError) else type(exc)
    try:
        return _inspect_brief_class(base)(str(exc))
    except TypeError:  # a class whose constructor takes more than a message: kept as it is
        return exc


@contextlib.contextmanager
def inspect_brief(*kinds: type[Exception]) -> Iterator[None]:
    """Errors of `kinds` raised in the block (refused task parameters, model options) leave it
    as `for_inspect` makes them: the message alone on Inspect's command line."""
    try:
        yield
    except kinds as exc:
        raise for_inspect(exc) from None


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


@contextlib.contextmanager
def lm_eval_brief(*kinds: type[Exception]) -> Iterator[None]:
    """Errors of `kinds` raised in the block (refused `--metadata` values, `--model_args`) are
    marked `for_lm_eval`: the same exception, shown as its message alone by the `lm_eval` command."""
    try:
        yield
    except kinds as exc:
        for_lm_eval(exc)  # marks it; the same exception goes on
        raise


def for_lm_eval(exc: Exception) -> Exception:
    """`exc` marked so that, should it end the `lm_eval` command uncaught, the command prints its
    message alone; the hook is installed (once) only in that command's process."""
    setattr(exc, _MARK, True)
    if running_lm_eval_command() and not getattr(sys.excepthook, "toolprm_brief", False):
        sys.excepthook = _excepthook(sys.excepthook)
    return exc
