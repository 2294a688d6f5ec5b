"""What every `toolprmbench` subcommand shares: the usage error, safe printing, argparse actions."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from toolprm_tasks.core.safe_text import visible

SUBSET_HELP = "subsets, repeatable (default: all four)"


class UsageError(Exception):
    """Arguments that cannot work together; printed as `toolprmbench: <message>`, exit code 2."""


def say(text: object = "") -> None:
    """Print a line that may hold text from data or arguments (paths, names, error types):
    control characters shown as escapes, never sent to the terminal (safe_text)."""
    print(visible(text))


class Extend(argparse.Action):
    """nargs="+" that a repeated flag extends (`--x a --x b` -> [a, b]), each value once; the
    default is replaced, not extended (argparse's own "extend" would keep the defaults)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        items = [] if current is None or current is self.default else list(current)
        items += [v for v in values if v not in items]
        setattr(namespace, self.dest, items)


class Once(argparse.Action):
    """A single-valued option given twice with different values is refused, not silently
    overridden by the last one."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = f"_{self.dest}_given"  # not the default's identity: argv strings may be interned
        current = getattr(namespace, self.dest, None)
        if getattr(namespace, given, False) and current != values:
            parser.error(f"{option_string} given twice ({current!r} and {values!r})")
        setattr(namespace, self.dest, values)
        setattr(namespace, given, True)


class SafeParser(argparse.ArgumentParser):
    """argparse echoes arguments in its errors (`invalid choice: ...`): shown through safe_text,
    so a control character in an argument never reaches the terminal. Its subparsers are of
    this class too (argparse makes them with the parent's class). A plain single-valued option
    (argparse's default `store`) is `Once`: given twice with different values it is refused,
    in every subcommand (repeatable options say so with their own action, e.g. `Extend`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, Once)
        self.register("action", "store", Once)

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(visible(message) if message else message, file)


def comma_list(values: Sequence[str]) -> tuple[str, ...]:
    """`--x a,b --x c` -> (a, b, c): every value of a repeated comma-list flag, once each."""
    items = (item.strip() for value in values for item in value.split(","))
    return tuple(dict.fromkeys(item for item in items if item))
