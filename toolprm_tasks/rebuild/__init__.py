"""Rebuilding ToolPRMBench-style cases from executable sources (paper, section 3).

Sources: BFCL multi-turn conversations replayed in BFCL's own executable environments
(calls parsed with `ast`, dispatched by name), ToolTalk conversations with their recorded
API responses, and a user-supplied copy of GTA. `build.py` turns their decision points into
release-format cases with rule-based, policy or online sampling (docs/rebuild.md).
"""
