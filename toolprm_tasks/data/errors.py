"""The error every data loader raises: its message says what to do."""

from __future__ import annotations

import os
from pathlib import Path


class DataError(RuntimeError):
    """The benchmark data cannot be had or does not match its pin; the message says what to do."""


class LocalRecordError(DataError):
    """One of this tool's own small records in the cache (the ledger, a first-use record) is
    damaged or was written by something else: a local problem that downloading again cannot fix."""


def env_path(variable: str) -> Path | None:
    """The folder an environment variable names (`~` expanded), None where it is unset or
    empty; a `~user` that names no user is a DataError naming the variable, not a traceback."""
    configured = os.environ.get(variable)
    if not configured:
        return None
    try:
        return Path(configured).expanduser()
    except RuntimeError as exc:  # Path.expanduser: "Could not determine home directory"
        raise DataError(f"{variable}={configured}: {exc}") from None
