"""The framework-free core: cases, trials, prompts, rendering, tool calls, names, versions.

Imports nothing of lm-eval or Inspect (tests/test_layers.py); both adapters use it."""
