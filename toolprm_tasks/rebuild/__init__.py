"""Rebuilding ToolPRMBench-style cases from executable sources (paper, section 3).

Work in progress (issue: rebuild). Here so far: BFCL multi-turn conversations replayed in
BFCL's own executable environments, with calls parsed by `ast` and dispatched by name.
"""
