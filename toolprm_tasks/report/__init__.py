"""`toolprmbench report`: leaderboards, tables and plots from lm-eval results and Inspect logs.

    readers (lm_eval_reader, inspect_reader, search_reader) -> runs.Run (one normalised record per run)
      -> board.build_sections (honesty rules, merging, tables) -> writers (report.md/.html/.json) + plots

Every number shown is the frameworks' own metric where they report it; numbers they do not
report (pooled over subsets, by error type across subsets, intervals) are recomputed from the
logged samples with `scorers.core`, and report.json says which is which.
"""

from toolprm_tasks.report.runs import ReportError

__all__ = ["ReportError"]
