"""Errors every rebuild source raises (one place, so each source can import them)."""

from __future__ import annotations


class SourceError(RuntimeError):
    """A source package is missing or its data does not have the expected format; the
    message names the file, the record and the field, or what to install."""
