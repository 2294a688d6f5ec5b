"""Scoring for ToolPRMBench: one framework-free core (`scorers.core`) and thin adapters
for lm-eval (`scorers.lm_eval_adapter`) and Inspect (`scorers.inspect_adapter`)."""
