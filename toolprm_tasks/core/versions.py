"""The task version (one scheme for lm-eval and Inspect) and the package version.

Task versions follow inspect_evals' `N-X`: the number changes when results stop being
comparable with earlier ones (a scoring or data change that moves a number), the letter when
the task's interface changes but its numbers do not. lm-eval's task YAMLs carry the same
string as `metadata.version` (tests/test_names.py checks every YAML). Every change is dated in
CHANGELOG.md.
"""

from __future__ import annotations

import importlib.metadata

TASK_VERSION = "12-A"

# Every task version published, oldest first (lm-eval results before 2-A carry `1.0`, which
# is 1-A): readers of old results accept these and refuse others.
TASK_VERSIONS: dict[str, str] = {
    "1-A": "2026-11-24: first release (lm-eval YAML `version: 1.0`)",
    "2-A": "2026-11-26: stricter answer parser; combined-task rates are unweighted means over subsets",
    "3-A": "2026-12-05: rebuilt data build 8 (BFCL's added-functions prompt, ToolTalk's new points); "
           "the Inspect tasks' -T seed is -T order_seed, as in lm-eval (the old name is refused)",
    "4-A": "2026-12-06: rebuilt data build 9 (lookups never substitute for a withheld tool, right calls "
           "show their files and ids, guesses are not values the request needs elsewhere, questions name "
           "their action); official-data numbers are unchanged",
    "5-A": "2026-12-06: rebuilt data build 10 (ToolTalk only: reports say what each acting call did with "
           "its values, a recorded call that contradicts its conversation is left out, the choice among a "
           "slot's cases evens out the longer side); BFCL's and the official data's numbers are unchanged",
    "6-A": "2026-12-06: rebuilt data build 11 (BFCL only: where the recorded calls skip a lookup, the "
           "question asks for the lookup's input); ToolTalk's and the official data's numbers are unchanged",
    "7-A": "2026-12-07: hostile answers are failures, not picks (a bare number joined to a label names both, "
           "a key twice in one JSON object, a label rejected before it, a reasoning block reopened or in "
           "<thinking>/<reasoning> tags, JSON too deep to decode around a label, NaN logprobs); a score that "
           "is not a finite real number is unscored in lm-eval as in Inspect; a step tag is read at its own "
           "token; lm-eval task YAMLs fix task_subset/task_protocol/task_norm (a --metadata norm collided); "
           "the data is unchanged",
    "8-A": "2026-12-07: a label-token PRM's label is read for the token right after the step tag, the tag "
           "tokenised apart from the candidate (it was read after the chat template's end of turn); an Inspect "
           "pointwise trial whose scoring provider gives no usable score is unscored and counted (it ended the "
           "run); a whole-valued float option is that number; the data is unchanged",
    "9-A": "2026-12-07: more hostile answers are failures, not picks (a choice taken back, a label a hedge "
           "or a rejection governs, a label only in a question, 'Action 1 and 2', more negative words); "
           "protocol c with neither label able to follow (both -inf) is unscored, not a tie; the data is "
           "unchanged",
    "10-A": "2026-12-07: clear free-text answers are read (a label alone as the answer's first or last "
            "sentence, 'I'd pick Action 2', keys such as 'final_choice', '__Action 2__'); a cue a negative word qualifies names the wrong one ('The incorrect action is "
            "Action 1' was a pick of it); the data is unchanged",
    "11-A": "2026-12-07: more clear free-text answers are read ('So Action 1.', 'Go with Action 2', 'Action 1 "
            "rather than Action 2', 'Action 2: correct', 'Action 2 is the chosen action'); a choice taken back "
            "with 'the second one', a habit ('Normally I'd go with Action 1'), a lone label its next sentence "
            "rejects and a lone label beside 'both are acceptable' are failures, not picks; the data is unchanged",
    "12-A": "2026-12-08: rebuilt data build 12 (the choice among a slot's cases also evens out which side "
            "the history grounds better, per split, error type and tier); the official data's numbers and "
            "the parser are unchanged",
}
LM_EVAL_LEGACY_VERSIONS: dict[str, str] = {"1.0": "1-A"}

# The search task (`toolprm_search`) measures something else and has versions of its own.
SEARCH_VERSION = "9-A"
SEARCH_VERSIONS: dict[str, str] = {"1-A": "2026-11-26: first release",
                                   "2-A": "2026-12-05: BFCL's added-functions prompt in the conversations; "
                                          "-T select is -T selector (the old name is refused)",
                                   "3-A": "2026-12-06: written questions name the action they are for "
                                          "(the replay policy's and the conversations' questions)",
                                   "4-A": "2026-12-06: a question where BFCL's recorded calls skip a lookup "
                                          "asks for the lookup's input (rebuilt data build 11)",
                                   "5-A": "2026-12-07: each environment owns its scenario (BFCL's long-context "
                                          "TravelAPI shared card balances across conversations); a state too "
                                          "large to compare matches nothing; policy answers with a key or "
                                          "keyword twice, two argument sets or a number past a float's range "
                                          "are invalid; the task version's parser",
                                   "6-A": "2026-12-07: a float past MathAPI's bound on an int parameter "
                                          "(precision=1e9) is refused like an int (it hung the run); a policy "
                                          "answer holding a lone surrogate is invalid (it ended the run)",
                                   "7-A": "2026-12-07: a policy answer written as Python calls that is no "
                                          "one call of literal values is invalid (it was a reply, and matched "
                                          "a gold reply); a state nested past 120 levels, or past Python's "
                                          "stack in the oracle's copy, matches nothing (it ended the sample); "
                                          "the task version's parser",
                                   "8-A": "2026-12-07: the pairwise judges' answers read by task version "
                                          "10-A's parser",
                                   "9-A": "2026-12-07: the pairwise judges' answers read by task version "
                                          "11-A's parser"}


NOT_INSTALLED = "not installed"

# the metadata key under which our lm-eval tasks record this package's version in lm-eval's
# results file (`configs.<task>.metadata`; written by lm_eval_adapter/task_classes.py)
LM_EVAL_PACKAGE_VERSION_KEY = "toolprm_tasks_version"


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions(*names: str) -> dict[str, str]:
    """Each named distribution's installed version, or `not installed` (recorded in logs,
    manifests and reports so a run says what it ran with)."""
    return {name: _installed(name) or NOT_INSTALLED for name in names}


def package_version() -> str:
    """This package's version, from its installed metadata (pyproject.toml is the source)."""
    return _installed("toolprm-tasks") or "0+unknown (not installed)"
