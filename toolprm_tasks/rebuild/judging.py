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
# where a yes/no word is the vote: the answer's first word ("No.", "**Yes**", "Yes because ...";
# not "No doubt A is better", "No need to ..."), a clause of its own ("In short, yes: ...",
# "Action A: yes, ...", `{"is_better": "yes"}`, "..., so no."), after a conclusion ("the answer
# is: no", "I'd say yes, ..."), or the answer's last word. Never one asked ("Yes?"). A "no" in
# the reasoning ("A has no errors", "so no extra call is needed") is no vote.
_NO_IDIOM = (r"(?:doubt|question|need|problem|way|matter|issue|errors?|one|longer|more|less|reason|change|"
             r"difference|such|other|extra|further|new)\b")
_ALONE = r"(?=[\"'*]*\s*(?:[.,!:;)}\n\-\u2013\u2014]|$))"  # a clause of its own: punctuation or the end next
_STATED = re.compile(
    r"^\W*(yes|no)\b(?!\s+" + _NO_IDIOM + ")"
    r"|[:,.;!?(\-][\s\"'*]*(yes|no)\b" + _ALONE +
    r"|\b(?:answer|verdict|vote|conclusion|decision|judge?ment|response)(?:\W{1,6}(?:is|would\s+be|will\s+be))?"
    r"\W{0,6}(yes|no)\b"
    r"|\b(?:so|therefore|thus|hence|say|think|definitely|certainly|sure)\W{1,4}(yes|no)\b" + _ALONE +
    r"|\b(yes|no)\W*$")
_CLAUSE_END = re.compile(r"[,.;:!?\n]")
_ASKED = re.compile(r"[\"'*\s]*\?")  # right after a vote: it asks ("Yes?")
# how far back a negation is looked for: the vote's clause, at most this many characters (the
# last _NEGATION_REACH words fit; bounded so that a run of votes is read in linear time)
_REACH_CHARS = 200


def _negated(text: str, start: int) -> bool:
    """Whether a negation governs the vote starting at `start`: in its own clause, within
    _NEGATION_REACH words before it ("I would not say yes"; "It isn't better, so no" is a vote)."""
    clause = _CLAUSE_END.split(text[max(0, start - _REACH_CHARS):start])[-1]
    return bool(_NEGATORS & set(re.findall(r"[a-z]+", clause)[-_NEGATION_REACH:]))


def parse_vote(text: str | None) -> str:
    """"yes", "no", or "unparsed": an answer cut off in its reasoning, not text, stating both
    ("yes or no"), stating none (a yes/no word only in the reasoning: "No doubt A is better",
    "A has no errors"), a vote asked ("Yes?"), or a vote behind a negation ("I would not say
    yes", "the answer is not no"). A negation elsewhere is the judge's reasoning ("No. A is
    not better")."""
    text = (answer_text(text) or "").casefold().replace("n't", " not")
    stated: dict[str, list[int]] = {}
    for match in _STATED.finditer(text):
        index = next(i for i in range(1, 7) if match.group(i))
        if not _ASKED.match(text, match.end(index)):
            stated.setdefault(match.group(index), []).append(match.start(index))
    if len(stated) != 1:
        return "unparsed"
    ((vote, starts),) = stated.items()
    return "unparsed" if any(_negated(text, start) for start in starts) else vote


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
