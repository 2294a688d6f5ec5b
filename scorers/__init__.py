"""Scoring for ToolPRMBench: one framework-free core (`scorers.core`) and thin adapters
for lm-eval (`toolprm_tasks.lm_eval_adapter.scoring`) and Inspect (`toolprm_tasks.inspect_adapter.scorer`)."""
