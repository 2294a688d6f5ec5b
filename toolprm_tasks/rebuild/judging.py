"""Multi-judge filtering (paper, section 3): a panel votes whether the chosen action is
strictly better. Unanimous yes keeps a case, unanimous no drops it, mixed votes go to review;
every vote is stored with the case."""

from __future__ import annotations

import re
from typing import Any

from scorers.answers import CONDITION_AFTER, RETRACTION_OPENER, answer_text
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
# a vote a hedge governs ("Maybe yes.", "Most likely yes.", "Hard to say no.") is no vote either
_HEDGES = frozenset({"maybe", "perhaps", "possibly", "probably", "likely", "hard", "difficult", "unclear"})
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


# a vote under a condition: one in the sentence before it ("If the user is logged in, yes."), or
# right after it (answers.CONDITION_AFTER: "yes if the file exists", "Yes, unless ...")
_CONDITION_BEFORE = re.compile(r"\b(?:if|unless|depends|assuming|provided)\b")
_SENTENCE_END = re.compile(r"[.!?\n]")
# a later sentence that takes the vote back: an opener, then a retraction ("Yes. Wait, actually,
# I take that back.", "The answer is yes. Just kidding.") or the other side's claim ("Yes.
# Actually, B is better."); "Yes. Actually, A also validates the input." gives a reason
_TAKEN_BACK = re.compile(r"\W*(?:(?:no|hmm+|oh|oops|ok(?:ay)?|sorry|well)\W+)*" + RETRACTION_OPENER + r"\b(.*)")
_RETRACTS = re.compile(r"take\s+that\s+back|kidding|scratch\s+that|changed?\s+my\s+mind|never\s*mind|^\W*$")
_CLAIMS = {"yes": re.compile(r"\b(?:action\s+)?b\s+is\s+(?:\w+\s+)?better\b|\b(?:action\s+)?a\s+is\s+(?:not|worse)\b"),
           "no": re.compile(r"\b(?:action\s+)?a\s+is\s+(?:\w+\s+)?better\b|\b(?:action\s+)?b\s+is\s+(?:not|worse)\b")}


def _negated(text: str, start: int, end: int) -> bool:
    """Whether a negation or a hedge governs the vote at `start:end` (in its own clause, within
    _NEGATION_REACH words before it: "I would not say yes", "Maybe yes"; "It isn't better, so no"
    is a vote), or a condition does (in its sentence: "If the user is logged in, yes", "yes if
    the file exists")."""
    before = text[max(0, start - _REACH_CHARS):start]
    clause = _CLAUSE_END.split(before)[-1]
    if (_NEGATORS | _HEDGES) & set(re.findall(r"[a-z]+", clause)[-_NEGATION_REACH:]):
        return True
    return bool(_CONDITION_BEFORE.search(_SENTENCE_END.split(before)[-1]) or CONDITION_AFTER.match(text, end))


def _taken_back(rest: str, vote: str) -> bool:
    """Whether a sentence after the last vote takes it back (`_TAKEN_BACK`)."""
    # sentence by sentence: one pattern over the whole rest started at every "!" of "yes!!!..." and
    # took quadratic time
    for sentence in _SENTENCE_END.split(rest):
        match = _TAKEN_BACK.match(sentence)
        if match and (_RETRACTS.search(match.group(1)) or _CLAIMS[vote].search(match.group(1))):
            return True
    return False


def parse_vote(text: str | None) -> str:
    """"yes", "no", or "unparsed": an answer cut off in its reasoning, not text, stating both
    ("yes or no"), stating none (a yes/no word only in the reasoning: "No doubt A is better",
    "A has no errors"), a vote asked ("Yes?"), a vote behind a negation or a hedge ("I would
    not say yes", "the answer is not no", "Maybe yes"), under a condition ("If the user is
    logged in, yes"), or taken back ("Yes. Actually, B is better."). A negation elsewhere is
    the judge's reasoning ("No. A is not better")."""
    text = (answer_text(text) or "").casefold().replace("n't", " not")
    stated: dict[str, list[tuple[int, int]]] = {}
    for match in _STATED.finditer(text):
        index = next(i for i in range(1, 7) if match.group(i))
        if not _ASKED.match(text, match.end(index)):
            stated.setdefault(match.group(index), []).append((match.start(index), match.end(index)))
    if len(stated) != 1:
        return "unparsed"
    ((vote, spans),) = stated.items()
    if any(_negated(text, start, end) for start, end in spans) or _taken_back(text[spans[-1][1]:], vote):
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
