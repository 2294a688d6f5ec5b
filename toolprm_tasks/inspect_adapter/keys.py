"""Every metadata key our Inspect pieces exchange, defined once.

Message metadata (solver or search -> our providers): what a judge may see, never the label.
Output metadata (provider -> scorer or search): what a scoring model returned.
State and score metadata (solver -> scorer -> logs and reports).
"""

# message metadata
VIEW_KEY = "toolprm_judge_view"  # the trial as a judge may see it (JudgeView JSON)
POSITION_KEY = "toolprm_position"  # which candidate a pointwise request scores (1 or 2)
LABELS_KEY = "toolprm_labels"  # the prompt's two answer labels
STEP_KEY = "toolprm_search_step"  # a search step, read only by the replay provider

# output metadata
SCORE_KEY = "toolprm_score"  # one candidate's score from a scoring provider
TRUNCATED_KEY = "toolprm_truncated"  # whether the scored text was cut to the model's context

# state metadata
SCORES_KEY = "toolprm_scores"  # both candidates' scores, left by the pointwise solver for the scorer

# score metadata
RESULT_KEY = "toolprm_search"  # one searched conversation's result
