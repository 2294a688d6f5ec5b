"""Reward-guided best-of-N search in BFCL's executable multi-turn environments.

Framework-free: the loop (`loop.py`), the selectors (`selector.py`), the gold reference
and BFCL's turn verdict (`check.py`), the replay policy's proposals (`replay.py`) and the
metrics (`metrics.py`). `inspect_adapter.py` is the thin Inspect glue the task
`toolprm_tasks/search.py` uses. `benchmarks/bfcl_crosscheck.py` (not shipped)
compares the verdict with bfcl-eval's own checker (executed through our safe dispatcher, never `eval`).
"""
