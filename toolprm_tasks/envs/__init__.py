"""Executable environments both the rebuild and the search run (BFCL)."""
