"""Argument types shared by the `toolprmbench` subcommands: checked while the command line is
parsed, so a wrong value is refused before any work (argparse prints `error: argument ...`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a count of cases, of tokens, a limit)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def folder_name(text: str) -> str:
    """A folder to write into: an empty name would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder (an empty value would mean the current folder)")
    return text


def output_file(text: str) -> str:
    """A file to write: not empty, not a name ending in a separator, not an existing folder
    (each would fail only after the work is done, or be silently ignored)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file (the value is empty)")
    if text.endswith(("/", "\\")) or Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder: name a file")
    return text
