"""Multi-judge filtering (paper, section 3): a panel votes whether the chosen action is
strictly better. Unanimous yes keeps a case, unanimous no drops it, mixed votes go to review;
every vote is stored with the case."""

from __future__ import annotations

import re
from typing import Any

from scorers.answers import answer_text
from toolprm_tasks.core.render import render_action, render_functions, render_history
from toolprm_tasks.rebuild.models import ModelCaller

JUDGE_PROMPT = (
    "Given the function description, the interaction history and two candidate next actions, is Action A "
    "strictly better than Action B as the next step towards finishing the task?\n"
    "## Function Description: {functions}\n"
    "## History: {history}\n"
    "## Action A: {chosen}\n"
    "## Action B: {rejected}\n"
    'Answer "yes" or "no".'
)


def judge_prompt(record: dict[str, Any]) -> str:
    return JUDGE_PROMPT.format(functions=render_functions(record["functions"]),
                               history=render_history(record["history"]),
                               chosen=render_action(record["action_chosen"]),
                               rejected=render_action(record["action_rejected"]))


_NEGATORS = frozenset({"not", "never", "cannot"})
_NEGATION_REACH = 3  # words before a vote that a negation governs ("I would not say yes")
# where a yes/no word is the vote: the answer's first word standing alone ("No.", "**Yes**,"),
# after an answer cue ("the answer is: no", "Verdict - yes"), or the answer's last word. A "no" in
# the reasoning ("No doubt A is better", "A has no errors") is no vote.
_STATED = re.compile(r"^\W*(yes|no)(?=\W*$|[ \t]*[.,!:;)\-\n*]|[ \t]+[-\u2013\u2014])"
                     r"|\b(?:answer|verdict|vote)\W{0,6}(?:is\W{0,6})?(yes|no)\b"
                     r"|\b(yes|no)\W*$")


def parse_vote(text: str | None) -> str:
    """"yes", "no", or "unparsed": an answer cut off in its reasoning, not text, naming both
    ("yes or no", "No doubt, yes"), a yes/no word only in the reasoning ("No doubt A is
    better"), or a vote behind a negation ("I would not say yes", "the answer is not no"). A
    negation elsewhere is the judge's reasoning ("No. A is not better")."""
    text = (answer_text(text) or "").casefold().replace("n't", " not")
    words = re.findall(r"[a-z]+", text)
    found = {w for w in words if w in ("yes", "no")}
    if len(found) != 1:
        return "unparsed"
    vote = found.pop()
    if not any(vote in match.groups() for match in _STATED.finditer(text)):
        return "unparsed"
    for index, word in enumerate(words):
        if word == vote and _NEGATORS & set(words[max(0, index - _NEGATION_REACH):index]):
            return "unparsed"
    return vote


def panel_votes(records: list[dict[str, Any]], judges: list[ModelCaller]) -> list[dict[str, str]]:
    prompts = [judge_prompt(r) for r in records]
    votes: list[dict[str, str]] = [{} for _ in records]
    for judge in judges:
        for i, text in enumerate(judge.generate_all(prompts)):
            # keyed by panel seat too: one model may sit twice (e.g. with different settings)
            votes[i][f"{judge.role}:{judge.name}"] = parse_vote(text)
    return votes


def verdict(votes: dict[str, str]) -> str:
    values = set(votes.values())
    if values == {"yes"}:
        return "keep"
    if values == {"no"}:
        return "drop"
    return "review"
