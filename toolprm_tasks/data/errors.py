"""The error every data loader raises: its message says what to do."""

from __future__ import annotations


class DataError(RuntimeError):
    """The benchmark data cannot be had or does not match its pin; the message says what to do."""


class LocalRecordError(DataError):
    """One of this tool's own small records in the cache (the ledger, a first-use record) is
    damaged or was written by something else: a local problem that downloading again cannot fix."""
