"""ToolPRMBench as lm-eval and Inspect tasks.

Kept empty on purpose: the lm-eval discovery hook imports this package at interpreter
start-up, so nothing heavy may live here.
"""

__version__ = "0.1.0"
