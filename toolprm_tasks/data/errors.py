"""The error every data loader raises: its message says what to do."""

from __future__ import annotations


class DataError(RuntimeError):
    """The benchmark data cannot be had or does not match its pin; the message says what to do."""
