"""The lm-eval side: documents, task classes, models, the metrics' functions, the hook."""
