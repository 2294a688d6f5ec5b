"""The framework-free scoring core: answer parsing, picks, per-trial outcomes, metrics.

Every number lm-eval and Inspect report for ToolPRMBench is defined here once (`aggregate()`,
`truncated_share()`); the adapters only hand over per-trial records, so the two frameworks
report the same value under the same name for the same predictions.

A trial's outcome is three numbers (fractions after Inspect's epoch reduction):
- `first`: 1 if the judge picked the candidate shown first, 0 if the second, 0.5 for an
  exact tie of scores, 0 if unparseable;
- `parsed`: 1 if the answer named a candidate (ties included), else 0;
- `correct`: 1 if the pick is the chosen action, 0.5 for a tie, 0 otherwise (unparseable
  answers are wrong, as in the paper's accuracy).
"""

from __future__ import annotations

import bisect
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scorers.answers import (
    CONDITION_AFTER,
    RETRACTION_OPENER,
    answer_start,
    answer_text,
    json_spans,
    too_deep_spans,
    walk_objects,
)
from scorers.taxonomy import ERROR_TYPE_SLUGS

METRICS: tuple[str, ...] = (
    "acc", "acc_cluster_se", "consistency", "first_rate", "parse_fail",
    *(f"acc_{slug}" for slug in ERROR_TYPE_SLUGS),
)

# ----------------------------------------------------------------------------- parsing

# A label stands as a label: "Action1", "Action 1", "action_1", "Action-2", "action#2", also in
# markdown's underscores ("__Action 2__"), never inside an identifier ("create_transaction_2",
# "action_2_id", "my_action_1", "Action12").
_LABEL_CORE = (r"(?<![A-Za-z0-9])(?<![A-Za-z0-9]_)(?<![A-Za-z0-9]__)action[ \t_\-#]*([12])"
               r"(?![A-Za-z0-9]|_+[A-Za-z0-9])")
_LABEL = re.compile(_LABEL_CORE, re.IGNORECASE)
_ANSWER_KEYS = frozenset({"chosen action", "chosenaction", "winning action", "answer", "final answer",
                          "choice", "final choice", "correct action", "chosen", "selected action", "preferred action",
                          "best action", "better action", "verdict", "final verdict", "decision", "final decision",
                          "selected", "selection", "winner", "pick", "my pick"})
# a label judged negatively: "Action2 is incorrect", "action_1 does not ...", "Action1: wrong tool",
# "Action 1 is the incorrect one", "Action2 should not be chosen"
_NEGATION = (r"[ \t*\"'`:,\-\u2013\u2014\u274c]*(?:(?:is|are|was|seems|looks|would|should|will|does|do|can)(?:[ \t]+(?:be|have))?[ \t]+)?"
             r"(?:(?:the|a|an)[ \t]+)?"
             r"(?:not\b(?![ \t]+(?:the[ \t]+)?" + _LABEL_CORE.replace("([12])", "[12]") + r")|"
             r"n't\b|isn't\b|wasn't\b|aren't\b|shouldn't\b|won't\b|wouldn't\b|doesn't\b|cannot\b|can't\b|"
             r"incorrect|wrong|invalid|worse|worst|bad\b|inferior|unnecessary|fails?\b|flawed|"
             r"inappropriate|(?<=be[ \t])avoided|problematic|harmful|suboptimal|mistaken)")
# ("Action1, not Action2": a "not" before the other label contrasts the two, it does not reject
# the first; the second is judged negatively by _AGAINST_BEFORE)
# any negative word in a label's sentence: without a stated choice, such a sentence rejects
# or doubts the label ("Avoid Action1.", "The answer is not Action1.") and never picks it
# (a doubt counts too: "I doubt Action2 ...", "..., but I disagree"; words that judge only what
# they stand next to, "worst", "flawed", are _NEGATION's: "Action 2 fixes the flawed date" picks)
_NEGATIVE_WORD = re.compile(r"\b(?:not|never|no|avoid|reject(?:ed|s)?|wrong|incorrect|invalid|worse|inferior|"
                            r"unnecessary|fails?|cannot|neither|nor|i[ \t]+doubt|doubtful|disagree|unsure|far[ \t]+from|"
                            r"be[ \t]+avoided|ruled[ \t]+out|is[ \t]+out)\b|n't\b", re.IGNORECASE)
# a habit in a label's sentence: "I usually go with Action 2", "In most cases I'd pick Action 1"
_HABITS = r"normally|usually|ordinarily|typically|in[ \t]+most[ \t]+cases"
_HABIT_WORD = re.compile(rf"\b(?:{_HABITS})\b", re.IGNORECASE)
# a sentence and its end (for the negative-word rule; one ending in "?" asks, it does not choose)
_SENTENCE = re.compile(r"[^.!?;\n]*[.!?;\n]?")
_SENTENCE_END = re.compile(r"[.!?;\n]")
# a second label joined to a first one ("Action1 or Action2", "Action 1 or 2", "Action1 / 2",
# "Action1 and also Action2"): the two named together, a hedge, never a choice
# (quoted too: `"chosen action": "Action1" or "Action2"` is the prompt's template echoed)
_JOINED = (r"(?:[\"'`*]+[ \t]*(?:or|/|vs\.?|versus)[ \t]*[\"'`*]*action[ \t_\-#]*([12])(?![A-Za-z0-9_])|"
           r"[ \t]*(?:or|/|&|vs\.?|versus)(?:[ \t]+(?:maybe|perhaps|possibly))?[ \t]*"
           r"(?<![A-Za-z0-9_])(?:action[ \t_\-#]*)?([12])(?![A-Za-z0-9_])"  # a hedge: a bare number too
           r"|[ \t]*(?:and|,)(?:[ \t]+(?:also|maybe|perhaps|possibly))?[ \t]*"  # a list: a whole label,
           r"(?<![A-Za-z0-9_])action[ \t_\-#]*([12])(?![A-Za-z0-9_])"
           # or "Action 1 and 2" ending its clause ("Action 1, 2 is wrong" contrasts the two)
           r"|[ \t]+and[ \t]+([12])(?=[ \t]*(?:$|[.!?;:)\n*]|,[ \t]|[ \t](?:are|both|each|seem|look|work|equally|alike|too)\b)))")
_SECOND = "(?:" + _JOINED + ")?"  # a cue naming both labels
_PAIRED = re.compile(_LABEL_CORE + _JOINED, re.IGNORECASE)
_CUE = re.compile(
    r"(?:chosen[ \t_]*action|winning[ \t_]*action|final[ \t_]*answer|answer|choice|verdict|decision|chosen|my[ \t]+pick|winner|"
    r"(?:correct|better|right|best)[ \t_]*(?:one|action|answer|choice|step)|"
    r"\bi(?:[ \t]+(?:would|will)|['\u2019](?:d|ll))?[ \t]+(?:choose|pick|select|prefer|go[ \t]+with)|\bi[ \t]+chose|"
    r"\bi(?:['\u2019]m|[ \t]+am)[ \t]+(?:going[ \t]+with|choosing|picking|selecting))"
    r"(?:[ \t]+(?:is|would[ \t]+be|will[ \t]+be))?[ \t:=*_\"'`\-]{0,6}" + _LABEL_CORE + r"(?!" + _NEGATION + ")"
    + _SECOND,
    re.IGNORECASE,
)
# "Action2 is the correct one", "Action1 is better" (no more words: a review found "more appropriate",
# "superior", "preferable", "definitely better" mostly in concessions, "Action 1 is superior in
# speed, but ...", where they would conflict with the choice that follows)
_CUE_AFTER = re.compile(
    _LABEL_CORE + r"[ \t*\"'`]{0,3}(?:is|would[ \t]+be)[ \t]+(?:the[ \t]+)?"
    r"(?:correct|better|right|best)\b",
    re.IGNORECASE,
)
# Weak statements (task version 11-A): ways of stating a choice that also occur in reasoning
# ("So Action 1 would send the transfer ...", "A careless agent would pick Action 1", "Risk: Action 1
# > Action 2"), read only in the free text (never inside JSON), only where no strong statement (a
# cue, an answer key) is made, and dropped where the other label is named after them outside a
# rejection, where the sentence before them asks a question, or under a condition, a consequence, a
# hedge or a habit (`_weak_decisions`); weak statements of both labels state nothing.
#
# where such a sentence opens: a line, or after a sentence's end (not after ":" or ";": "Execution
# order: Action 1 > Action 2" ranks, "Task: choose Action 1 or Action 2" restates; not in a quote)
_OPENING = r"(?:^|(?<=[.!?\n]))[ \t*_#\-\u2022]*+"
# a label that ends its sentence (not one that asks: "Action 2 > Action 1?" is a question)
_ENDS_SENTENCE = r"(?=[ \t*_\"'`)]*(?:[.!]|\n|\Z))"
# a conclusion whose sentence is the label alone: "So Action 1.", "Therefore: Action 1", "TL;DR:
# Action 2.", "-> Action 1" ("..., so Action 1 retries the call" goes on: a reason, no choice)
# (the opening's run takes the arrow's "-" and never gives it back, which keeps a run of spaces linear;
# unlike `_OPENING` it may follow ";" or ":", "Action 2 fails; so Action 1.", a conclusion word first)
_CONCLUSION = re.compile(
    r"(?:^|(?<=[.!?;:\n]))[ \t*_#\-\u2022]*+"
    r"(?:so|therefore|thus|hence|tl;?dr|in[ \t]+conclusion|conclusion|result|overall|\u2192|=>|\u21d2|(?<=-)>)"
    r"[ \t*_,:]*" + _LABEL_CORE + _ENDS_SENTENCE, re.IGNORECASE)
# an imperative opening a sentence, its label followed by the sentence's end or a reason ("Go with
# Action 1.", "Choose Action 2, since ..."; not "Pick Action 1 and the file is gone", "Go with Action 1
# when ...", "Choose Action 1 over Action 2 would be wrong"); one naming both restates the task
_IMPERATIVE = re.compile(
    _OPENING + r"(?:choose|pick|select|prefer|go[ \t]+with)[ \t:*_\"'`]*" + _LABEL_CORE + r"[ \t*_\"'`]*+", re.IGNORECASE)
_IMPERATIVE_ENDS = re.compile(r"[.!,;:(\n\u2014]|\Z|-[ \t]|(?:since|because|as)\b", re.IGNORECASE)
# (a condition after it, `_CONDITIONED`, "Go with Action 1 only if ...", "..., when ...", is no choice,
# nor a consequence: "Go with Action 1 and you'll lose the user's data", "Choose Action 2 or ...")
_CONSEQUENCE = re.compile(r"(?:and|or)\b", re.IGNORECASE)
# "So Action 1 is my choice.", "Action 2 is my answer"
_MY_CHOICE = re.compile(_LABEL_CORE + r"[ \t*\"'`]{0,3}(?:is|would[ \t]+be)[ \t]+my[ \t]+(?:final[ \t]+)?"
                        r"(?:choice|pick|answer)\b", re.IGNORECASE)
# one label preferred to the other in a sentence of its own: "Action 1 rather than Action 2.",
# "Action 2 instead of Action 1", "Prefer Action 1 over Action 2.", "Action 1 is preferred over
# Action 2", "Action 2 (not Action 1)", "Action 2 > Action 1" (the first label is the choice) ...
_PREFERRED = re.compile(
    _OPENING + r"(?:(?:i[ \t]+(?:would[ \t]+)?)?(?:prefer|choose|pick|go[ \t]+with)[ \t]+)?" + _LABEL_CORE
    + r"[ \t*_\"'`]*+(?:is[ \t]+(?:preferred|preferable)[ \t]+(?:over|to)|over|rather[ \t]+than|instead[ \t]+of|"
    r"in[ \t]+place[ \t]+of|>|,?[ \t]*+\(?not)[ \t]++(?:the[ \t]+)?"
    + _LABEL_CORE + r"[ \t*_\"'`)]*+" + _ENDS_SENTENCE, re.IGNORECASE)
# ... or the second: "Action 2 is worse than Action 1", "Action 1 is not as good as Action 2", "Action 1 < Action 2"
_DISPREFERRED = re.compile(
    _OPENING + _LABEL_CORE + r"[ \t*_\"'`]*+(?:<|is[ \t]+(?:worse[ \t]+than|inferior[ \t]+to|not[ \t]+as[ \t]+good[ \t]+as|"
    r"less[ \t]+(?:correct|appropriate|suitable|helpful)[ \t]+than))[ \t]++(?:the[ \t]+)?"
    + _LABEL_CORE + r"[ \t*_\"'`)]*+" + _ENDS_SENTENCE, re.IGNORECASE)
# a line that is a label and its verdict: "Action 2: correct tool.", "**Action 2** - \u2705 right"
# (lines approving both are a checklist and state nothing)
_LINE_VERDICT = re.compile(
    r"(?:^|(?<=\n))[ \t*_#\-+\u2022]*" + _LABEL_CORE + r"[ \t*_]*[:\-\u2013\u2014][ \t*_]*(?:\u2705[ \t]*)?"
    r"(?:correct|right|better|best)(?:[ \t]+(?:one|choice|action|tool|call|answer))?[ \t*_.!]*(?=\n|\Z)",
    re.IGNORECASE)
# right before a weak statement: a question it answers ("Which one repeats the failed call?\n-> Action 1")
# or a heading that names the wrong one ("Incorrect:\n-> Action 1")
_QUESTION_BEFORE = re.compile(r"\?[ \t*_\"'`)]*\n?[ \t]*\Z")
_NEGATIVE_HEADING = re.compile(r"\b(?:wrong|incorrect|worse|worst|bad|invalid|avoid|reject\w*|not)[ \t*_]*:[ \t*_]*\n?[ \t]*\Z",
                               re.IGNORECASE)
# a choice stated by its place: the answer's first or last sentence is a label alone ("Action 2\n\n
# Explanation: ...", "... Action 2 is the safer option. Action 2."); never where lone labels name
# both ("Action 1\n- deletes\nAction 2\n- lists": headings), a first one where the other label
# opens a line too ("Action 1\n- deletes\n\nAction 2 - lists": headings written unevenly), a last
# one after a sentence that has not ended ("The wrong one is:\nAction 1", "The one to avoid is\n
# Action 1"), a bare number ("1." opens a list) or a heading with a colon ("Action 1: calls delete")
# (a lone label asked, "Action 1? Action 2.", is no statement and counts among the lone ones)
# (no two runs of the same characters side by side: a long run of spaces is matched in linear time)
_LONE_LABEL = re.compile(r"[ \t*_#>\"'`]*" + _LABEL_CORE + r"[ \t*_\"'`]*(?:[.!?][ \t*_\"'`]*)?\n?", re.IGNORECASE)
_LINE_OPENING_LABEL = re.compile(r"^[ \t*_#>\-+\u2022]*" + _LABEL_CORE, re.IGNORECASE | re.MULTILINE)
# both candidates approved: "both are acceptable", "both actions would work", "either one is fine"
_BOTH_FINE = re.compile(
    r"\b(?:both(?:[ \t]+(?:actions|options|candidates|of[ \t]+them|are|would|could|seem|be|honestly))*"
    r"[ \t]+(?:equally[ \t]+)?(?:acceptable|fine|correct|okay|ok|work)|"
    r"either(?:[ \t]+(?:one|action|option))?[ \t]+(?:is|would[ \t]+be|works|would[ \t]+work|could[ \t]+work)"
    r"(?:[ \t]+(?:fine|acceptable|ok|okay|correct))?)\b(?![ \t]+(?:json|calls?|syntax|format))", re.IGNORECASE)
# a sentence rejecting what came before it by a pronoun: "This is the action that should be avoided",
# "It is wrong", "That one fails", "This is not the best choice", "It is a poor choice", "The action
# above is the one to avoid" (not "It is not perfect, but ...", "It doesn't repeat the failed search",
# "It would be a mistake to avoid this one": the predicate itself must reject, with no condition)
_PRONOUN_REJECTS = re.compile(
    r"\W*(?:this|that|it|the[ \t]+(?:action|one|option)[ \t]+above)(?:[ \t]+(?:one|action|option|choice|call|step))?"
    r"(?:(?:[ \t]+(?:is|was|would[ \t]+be|seems|looks)|['\u2019]s)[ \t]+(?:(?:the|a|an)[ \t]+)?"
    r"(?:wrong|incorrect|invalid|worse|inferior|bad|mistaken|harmful|risky|a[ \t]+mistake(?![ \t]+to[ \t]+(?:avoid|reject|skip))|"
    r"not[ \t]+(?:the[ \t]+|a[ \t]+)?(?:best|right|correct|good|better)[ \t]+(?:choice|option|one|action|step)|"
    r"(?:poor|bad|wrong)[ \t]+(?:choice|option|one|action|step)|"
    r"(?:action|one|option|choice|step)[ \t]+(?:that[ \t]+|which[ \t]+)?(?:(?:should|must)[ \t]+(?:be[ \t]+(?:avoided|rejected)|not[ \t]+be)|"
    r"to[ \t]+(?:avoid|reject)|i[ \t]+(?:reject|would[ \t]+avoid))|one[ \t]+to[ \t]+(?:avoid|reject))"
    r"|[ \t]+(?:fails|should[ \t]+(?:be[ \t]+(?:avoided|rejected)|not[ \t]+be[ \t]+(?:chosen|used|picked|run))))\b"
    r"(?![^.!?;\n]*\b(?:if|unless|when)\b)", re.IGNORECASE)  # "... should be avoided if the user is not logged in"
_COLON_BREAK = re.compile(r":[ \t*_]*\n\s*")
# a sentence that has ended (not in ":" or mid-clause; not a question: "Which one is wrong?\nAction 1")
_ENDED = re.compile(r"[.!][ \t\n*_\"'`)]*\Z")
_AGAINST = re.compile(_LABEL_CORE + _NEGATION, re.IGNORECASE)
# a label rejected by what comes before it: "not Action1", "avoid Action1", "I wouldn't pick Action1"
_AGAINST_BEFORE = re.compile(
    r"(?:\b(?:not|never|avoid(?:ing)?|reject(?:ing)?|cannot)|n't)[ \t]+(?:(?:choose|pick|select|prefer|use|go[ \t]+with)[ \t]+)?"
    r"(?:the[ \t]+)?" + _LABEL_CORE, re.IGNORECASE)
# a label a hedge governs: "Neither Action1 nor Action2 is correct", "I doubt Action2 is better",
# "If Action2 is correct, ...", "Some might say Action2 is better"
_HEDGED_BEFORE = re.compile(
    r"\b(?:neither|nor|if|whether|unless|i[ \t]+doubt(?:[ \t]+(?:that|whether))?|not[ \t]+sure(?:[ \t]+(?:that|whether|if))?|"
    r"(?:might|may|could)[ \t]+(?:say|argue|claim)(?:[ \t]+that)?|"
    # "Maybe Action 1.", "It could be Action 1", "probably Action 2"
    r"maybe|perhaps|possibly|probably|(?:it[ \t]+)?(?:could|might|may)[ \t]+be)[ \t,]+(?:the[ \t]+)?" + _LABEL_CORE,
    re.IGNORECASE)
# a label a hedge right after it governs: "Action 1, perhaps.", "Action 1 might be correct."
_HEDGED_AFTER = re.compile(
    _LABEL_CORE + r"(?:[ \t]*,)?[ \t]+(?:perhaps|maybe|possibly|probably|(?:might|may|could)[ \t]+be[ \t]+(?:the[ \t]+)?"
    r"(?:correct|right|better|best|fine|ok|okay|acceptable|valid|one))\b", re.IGNORECASE)
# a second label approved as well: "Action1 is right and Action2 is also right", "Action1 is equally correct"
# (or "Action 2 is correct; Action 1 is too." / "... as well.": the approval elided)
# ("Action 1 would also be acceptable", "Action 1 also works")
_ALSO_RIGHT = re.compile(_LABEL_CORE + r"[ \t*\"'`]{0,3}(?:(?:is|would[ \t]+be)[ \t]+(?:(?:also|equally|too|just[ \t]+as)[ \t]+"
                         r"(?:the[ \t]+)?(?:correct|right|fine|valid|acceptable|good)\b|(?:too|as[ \t]+well)[ \t]*(?=[.!;)\n]|$))"
                         r"|(?:would|could|is)[ \t]+also[ \t]+(?:be[ \t]+)?(?:correct|right|fine|valid|acceptable|good|work)\b"
                         r"|also[ \t]+works?\b|works[ \t]+(?:too|as[ \t]+well)\b)", re.IGNORECASE)
# a choice taken back: "Final answer: Action 1. No wait, Action 2."
# (the whole sentence: an opener, then the other label alone, "it's Action 2", "Action 2 is the
# right one"; a sentence that goes on, "Actually, Action 1 misses the date", gives a reason)
_RETRACTION = re.compile(
    # ("Wait, no: Action 2.", "Hmm, no: Action 2.", "... no, Action 2.", "Actually, it should be Action 2.")
    r"\W*(?:(?:no|hmm+|oh|oops|ok(?:ay)?|sorry|well)\W+)*(?:" + RETRACTION_OPENER + r"(?:\W+" + RETRACTION_OPENER + r")*(?:\W+no\b)?|no\b)\W*"
    r"(?:(?:it'?s|it[ \t]+is|it[ \t]+should[ \t]+be|i[ \t]+meant?|the[ \t]+answer[ \t]+is|i[ \t]+(?:choose|pick|go[ \t]+with))\W+)?"
    # the label, or the candidate named by its place or number ("Wait, the second one.", "Actually, action two.")
    r"(?:" + _LABEL_CORE + r"|(?:the[ \t]+)?(first|second|former|latter|other)(?:[ \t]+(?:one|action|option|candidate))?"
    r"|action[ \t]+(one|two))"
    r"(?:[ \t]+(?:is|was|would[ \t]+be)[ \t]+(?:the[ \t]+)?(?:correct|right|better|best)(?:[ \t]+one)?(?:[ \t]+all[ \t]+along)?"
    r"|[ \t]+is[ \t]+what[ \t]+i[ \t]+meant)?(?:[ \t]*,?[ \t]*(?:actually|sorry|instead|then))*"
    r"[ \t*\"'`.!;]*\Z", re.IGNORECASE)
_BARE_RETRACTION = re.compile(r"\W*(?:(?:hmm+|oh|oops|well|ok(?:ay)?)\W+)*(?:(?:wait|actually)\W+no|no\W+wait)\W*\Z",
                               re.IGNORECASE)
_RETRACTED_TO = {"1": 1, "2": 2, "first": 1, "second": 2, "former": 1, "latter": 2, "one": 1, "two": 2}  # "other": the other one
# what stands right before a cue and turns it around: a negative word qualifying its noun ("The
# incorrect action is Action1", "The wrong answer: Action 2", "not the right one: Action 1") names the
# wrong one; a cue inside a longer word ("outright") is none
_CUE_NEGATED = re.compile(r"(?:(?:\b(?:wrong|incorrect|worse|worst|bad|invalid|inferior|less|least|not)|n't)"
                          r"(?:[ \t_]+(?:the|a|an|most))?[ \t_]+|\bin)\Z", re.IGNORECASE)
# ... but two negatives make a choice: "the least bad choice is Action 2", "Not a bad choice: Action 2"
_CUE_DOUBLE_NEGATIVE = re.compile(r"\b(?:least|not(?:[ \t]+(?:a|an|so|too|that|the))?)[ \t]+"
                                  r"(?:bad|wrong|worse|incorrect|invalid|inferior)[ \t]+(?:(?:the|a|an)[ \t]+)?\Z",
                                  re.IGNORECASE)
# a cue inside a lower-case word ("outright answer"); not after "_" or in camelCase ("final_choice",
# "selectedAnswer": keys a judge writes)
_CUE_INSIDE_WORD = re.compile(r"[a-z0-9]\Z")
# a cue under a condition states no choice: one right after it (answers.CONDITION_AFTER: "Action 2
# would be better if the user had confirmed"), or one opening its sentence ("Unless the order has
# shipped, Action 1 is correct", "...; otherwise Action 2 is better"; not "If I had to pick, ...":
# a forced choice is a choice)
_CONDITION_OPENS = re.compile(r"\W*(?:unless|assuming|provided|otherwise|if(?![ \t]+(?:i|we)[ \t]+(?:had|have|must|need)[ \t]+to\b)"
                              r"(?![ \t]+(?:forced|pressed|asked)\b))\b", re.IGNORECASE)
# a habit is no choice either, in its clause: "Normally I'd go with Action 1" (not "Normally I'd go with
# Action 1, but here Action 2 is correct", "Usually I go with Action 1, and here too: Action 1 is correct")
_HABIT_OPENS = re.compile(rf"\W*(?:{_HABITS}|initially|at[ \t]+first)\b", re.IGNORECASE)  # or a first thought
_CLAUSE_BREAK = re.compile(r":|\b(?:but|however|yet|and)\b", re.IGNORECASE)
# a condition right after a label ("-> Action 1 (if the user confirms)", "Go with Action 1, when ...")
_CONDITIONED = re.compile(r"[ \t*\"'`]*(?:\([ \t]*|,[ \t]*)?(?:only[ \t]+)?(?:if|unless|when|provided|assuming)\b", re.IGNORECASE)
_CONTRAST = re.compile(r"\b(?:but|however|though|although|yet|except|while|whereas)\b", re.IGNORECASE)
# right after a cue: it asks ("Final answer: Action1?", "Action2 is correct?", "Action 1 is the better one?")
_ASKED = re.compile(r"(?:[ \t]+(?:one|action|answer|choice|option|step))?[ \t*\"'`]*\?", re.IGNORECASE)
_KEY_USE = re.compile(r"[\"']" + _LABEL_CORE + r"[\"']\s*:", re.IGNORECASE)  # a label as a JSON key


@dataclass(frozen=True)
class ParsedAnswer:
    pick: int | None  # 1, 2, or None (unparseable)
    how: str  # which rule decided, or why nothing could (logged per sample)

    @property
    def first(self) -> float | None:
        """The outcome's `first`: 1.0 for candidate 1, 0.0 for candidate 2, None if unparseable."""
        return None if self.pick is None else (1.0 if self.pick == 1 else 0.0)


def _labels_in(text: str) -> set[int]:
    """The labels a text names, a second one joined to a label as a bare number included
    ("Action 1 or 2" names both)."""
    named = {int(m) for m in _LABEL.findall(text)}
    for first, *second in _PAIRED.findall(text):
        named |= {int(first), *(int(n) for n in second if n)}
    return named


def _whole_label(text: str) -> int | None:
    """The number when the whole text is one label ("Action1", "**action_2**", "2")."""
    text = text.strip().strip("\"'`*.:!()[] \t\n")
    match = _LABEL.fullmatch(text) or re.fullmatch(r"([12])", text)
    return int(match.group(1)) if match else None


def _key_name(key: Any) -> str:
    return re.sub(r"[\s_\-]+", " ", str(key)).strip().lower()


def _json_decisions(text: str) -> tuple[list[int], list[str], list[tuple[int, int]]]:
    """Picks named by answer keys in every JSON object of the answer (nested ones included),
    the problems found (an answer key naming both labels or none), and the decoded spans."""
    picks: list[int] = []
    problems: list[str] = []
    spans: list[tuple[int, int]] = []
    for start, end, value in json_spans(text):
        spans.append((start, end))
        for obj in walk_objects(value):
            for key, answer in obj.items():
                if _key_name(key) not in _ANSWER_KEYS:
                    continue
                if isinstance(answer, bool) or not isinstance(answer, (str, int)):
                    problems.append("answer_key_not_a_label")
                    continue
                whole = _whole_label(str(answer))
                named = {whole} if whole is not None else _labels_in(str(answer))
                if len(named) == 1:
                    picks.append(named.pop())
                else:
                    problems.append("both_labels_in_answer" if named else "answer_key_without_label")
    return picks, problems, spans


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with decoded JSON spans blanked out (kept the same length)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


@dataclass(frozen=True)
class _Statement:
    """One stated choice found in the answer (a cue, a conclusion, a preference, a line's verdict)."""
    label: int
    label_start: int  # where the chosen label stands (a rejection or a hedge there governs it)
    start: int  # where the statement opens (its sentence's condition is read before it)
    after: int  # right after the label or the statement (a condition or a question mark there)
    end: int  # where the statement ends (a retraction is looked for after it)
    names_both: bool = False  # the statement named the other label as well ("Action 1 or Action 2")
    conditional: bool = False  # a condition its own pattern found ("Go with Action 1 when ...")


@dataclass
class _Cues:
    picks: list[int]  # labels stated as the choice
    against: set[int]  # labels judged negatively
    asked: set[int]  # labels of cues that ask ("Final answer: Action1?"): no statement, no choice either
    both: bool  # a cue named both labels ("Final answer: Action1 or Action2")
    end: int  # where the last statement ends
    approved_too: set[int]  # labels approved as well ("Action2 is also right"), no contrast after it
    # labels of statements that state no choice: under a condition, or answering another question
    conditional: set[int] = field(default_factory=set)


def _uncontested(text: str, approval: re.Pattern[str]) -> list[re.Match[str]]:
    """The approvals with no contrast after them in their sentence ("Action 1 is also correct";
    "Action 2 is also valid, but it books the wrong date" and "Both are fine, but Action 1 is
    simpler" concede). Positions are looked up, not rescanned: a rescan per match was quadratic."""
    matches = list(approval.finditer(text))
    if not matches:
        return []
    ends = [match.start() for match in _SENTENCE_END.finditer(text)]
    contrasts = [match.start() for match in _CONTRAST.finditer(text)]
    kept = []
    for match in matches:
        end = ends[i] if (i := bisect.bisect_left(ends, match.end())) < len(ends) else len(text)
        after = bisect.bisect_left(contrasts, match.end())
        if after == len(contrasts) or contrasts[after] >= end:
            kept.append(match)
    return kept


def _cue_decisions(answer: str) -> _Cues:
    """The cues of an answer. A cue on a label that a rejection or a hedge governs ("don't
    choose Action1", "I doubt Action2 is correct", "If Action2 is correct, ...") states
    nothing; a rejected label is judged negatively, a hedged one only is no statement."""
    rejected = {match.start(1): int(match.group(1)) for match in _AGAINST_BEFORE.finditer(answer)}
    governed = rejected | {match.start(1): int(match.group(1)) for pattern in (_HEDGED_BEFORE, _HEDGED_AFTER)
                           for match in pattern.finditer(answer)}
    cues = _Cues([], {int(m) for m in _AGAINST.findall(answer)} | set(rejected.values()), set(), False, 0, set())
    cues.approved_too = {int(match.group(1)) for match in _uncontested(answer, _ALSO_RIGHT)}
    found: list[_Statement] = []
    for match in _CUE.finditer(answer):
        before = answer[max(0, match.start() - 24):match.start()]  # bounded: linear in the answer
        if _CUE_NEGATED.search(before) and not _CUE_DOUBLE_NEGATIVE.search(before):
            cues.against.add(int(match.group(1)))
        elif not (_CUE_INSIDE_WORD.search(before) and match.group()[0].islower()):
            both = any(other and other != match.group(1) for other in match.groups()[1:])
            found.append(_Statement(int(match.group(1)), match.start(1), match.start(), match.end(1), match.end(), both))
    found += [_Statement(int(match.group(1)), match.start(1), match.start(), match.end(), match.end())
              for match in _CUE_AFTER.finditer(answer)]
    for statement in found:
        if statement.label_start in governed:
            continue
        state = _qualified(answer, statement)
        if state == "conditional":
            cues.conditional.add(statement.label)
        elif state == "asked":
            cues.asked.add(statement.label)
        else:
            cues.picks.append(statement.label)
            cues.both = cues.both or statement.names_both
            cues.end = max(cues.end, statement.end)
    return cues


def _qualified(text: str, statement: _Statement) -> str | None:
    """"conditional" where a condition or a habit governs the statement ("... if the user had
    confirmed", "Unless the order has shipped, ...", "Normally I'd go with ..."), "asked" where
    it asks ("Action 1 is the better one?"), else None."""
    opening = _SENTENCE_END.split(text[max(0, statement.start - 200):statement.start])[-1]  # bounded: linear
    if (CONDITION_AFTER.match(text, statement.after) or _CONDITION_OPENS.match(opening)
            or _HABIT_OPENS.match(_CLAUSE_BREAK.split(opening)[-1])):
        return "conditional"
    return "asked" if _ASKED.match(text, statement.after) else None


def _weak_statements(text: str) -> list[_Statement]:
    """The weak statements of the free text (see `_OPENING`)."""
    found = [_Statement(int(match.group(1)), match.start(1), match.start(), match.end(), match.end())
             for pattern in (_CONCLUSION, _MY_CHOICE) for match in pattern.finditer(text)]
    for match in _IMPERATIVE.finditer(text):
        if _CONDITIONED.match(text, match.end()) or _CONSEQUENCE.match(text, match.end()):
            found.append(_Statement(int(match.group(1)), match.start(1), match.start(), match.end(), match.end(),
                                    conditional=True))
        elif _IMPERATIVE_ENDS.match(text, match.end()):
            found.append(_Statement(int(match.group(1)), match.start(1), match.start(), match.end(), match.end()))
    verdicts = list(_LINE_VERDICT.finditer(text))
    if len({match.group(1) for match in verdicts}) == 1:  # lines approving both are a checklist
        found += [_Statement(int(match.group(1)), match.start(1), match.start(), match.end(), match.end())
                  for match in verdicts]
    for pattern, chosen in ((_PREFERRED, 1), (_DISPREFERRED, 2)):  # two labels: one preferred to the other
        found += [_Statement(int(match.group(chosen)), match.start(chosen), match.start(), match.end(), match.end())
                  for match in pattern.finditer(text) if match.group(1) != match.group(2)]
    return found


def _weak_decisions(text: str, cues: _Cues) -> tuple[list[int], int]:
    """Picks stated by weak statements, and where the last ends. One is dropped where a rejection
    or a hedge governs its label, and states no choice (its label counts as unstated) where a
    negative heading or a question stands right before it ("Incorrect:\n-> Action 1", "Which one
    repeats the failed call?\n-> Action 1") or a condition or a habit governs it. Weak statements
    of both labels state nothing (options listed: "1. Choose Action 1, since ...\n2. Choose Action
    2, since ..."); one is dropped where the other label is named after it outside a rejection
    ("So Action 1.\nThat makes Action 2 preferable.")."""
    rejected = {match.start(1) for pattern in (_AGAINST, _AGAINST_BEFORE) for match in pattern.finditer(text)}
    hedged = {match.start(1) for pattern in (_HEDGED_BEFORE, _HEDGED_AFTER) for match in pattern.finditer(text)}
    last_named = {1: -1, 2: -1}  # where each label is last named outside a rejection
    for match in _LABEL.finditer(text):
        if match.start(1) not in rejected:
            last_named[int(match.group(1))] = match.start(1)
    stated: list[_Statement] = []
    for statement in _weak_statements(text):
        if statement.label_start in rejected or statement.label_start in hedged:
            continue
        before = text[max(0, statement.start - 40):statement.start]  # bounded: linear in the answer
        state = "conditional" if statement.conditional else _qualified(text, statement)
        if state == "conditional" or _QUESTION_BEFORE.search(before) or _NEGATIVE_HEADING.search(before):
            cues.conditional.add(statement.label)
        elif state is None:
            stated.append(statement)
    if len({statement.label for statement in stated}) > 1:  # options listed, or a thought in progress
        return [], 0
    stated = [statement for statement in stated if last_named[3 - statement.label] < statement.end]
    return [statement.label for statement in stated], max((statement.end for statement in stated), default=0)


def _sentences(text: str) -> list[str]:
    return [sentence for sentence in _SENTENCE.findall(text) if sentence]


def _taken_back(text: str, pick: int) -> bool:
    """Whether a sentence after the statement takes it back: an opener, then the other label
    (or the other by its place, "the second one", "the other one") and nothing more ("Final
    answer: Action 1. No wait, Action 2."), or an opener and "no" alone ("Wait, no."); the last
    such sentence stands. "Actually, Action 1 misses the date filter" gives a reason and takes
    nothing back."""
    current = pick  # the last retraction stands ("Wait, the second one; no, the first one.")
    for sentence in _sentences(text):
        if _BARE_RETRACTION.match(sentence):  # "Action 1. Wait, no.": taken back, nothing put instead
            current = 0
            continue
        taken_back = _RETRACTION.match(sentence.strip())
        if taken_back:
            named = next(group for group in taken_back.groups() if group).lower()
            current = 3 - current if named == "other" else _RETRACTED_TO[named]
    return current != pick


def _hedged_only(text: str, label: int) -> bool:
    """Whether every mention of `label` in the free text is one a hedge or a rejection governs
    ("If Action2 is correct, the file would exist; it does not.")."""
    matches = [match for match in _LABEL.finditer(text) if int(match.group(1)) == label]
    governed = {match.start(1) for pattern in (_HEDGED_BEFORE, _HEDGED_AFTER, _AGAINST_BEFORE)
                for match in pattern.finditer(text)}
    governed |= {match.start(1) for match in matches if _CONDITIONED.match(text, match.end())}  # "-> Action 1 (if ...)"
    return bool(matches) and {match.start(1) for match in matches} <= governed


def _placed_choices(text: str) -> tuple[set[int], int]:
    """Labels stated by their place in the free text (`_LONE_LABEL`) and where the last ends."""
    sentences = [match for match in _SENTENCE.finditer(text) if match.group().strip()]
    lone = [(match, int(alone.group(1))) for match in sentences if (alone := _LONE_LABEL.fullmatch(match.group()))]
    placed: dict[int, int] = {}
    if len({label for _, label in lone}) == 1:  # lone labels naming both are headings, not choices
        opening_lines = {int(match.group(1)) for match in _LINE_OPENING_LABEL.finditer(text)}
        for match, label in lone:
            if match.group().rstrip(" \t\n*_\"'`").endswith("?"):
                continue
            first = (match is sentences[0] and opening_lines == {label}
                     and not (len(sentences) > 1 and _PRONOUN_REJECTS.match(sentences[1].group())))
            last = match is sentences[-1] and match is not sentences[0] and _ENDED.search(sentences[-2].group())
            if first or last:
                placed[label] = max(placed.get(label, 0), match.end())
    return set(placed), max(placed.values(), default=0)


def _parse(answer: str) -> ParsedAnswer:
    whole = _whole_label(answer)
    if whole is not None:
        return ParsedAnswer(whole, "label")
    if any(_LABEL.search(answer, start, end) for start, end in too_deep_spans(answer)):
        # a label in JSON nested too deep to decode: a statement there would go unread
        return ParsedAnswer(None, "label_in_json_too_deep")
    json_picks, problems, spans = _json_decisions(answer)
    cues = _cue_decisions(answer)
    cue_picks, against, cue_end = cues.picks, cues.against, cues.end
    if cues.both or "both_labels_in_answer" in problems:
        return ParsedAnswer(None, "both_labels_in_answer")
    free_text = _KEY_USE.sub(lambda key: " " * len(key.group(0)), _outside(answer, spans))  # positions kept
    placed, placed_end = _placed_choices(free_text)
    # a weak statement never conflicts with a strong one: it is read only where none is made
    weak_picks, weak_end = ([], 0) if json_picks or cue_picks else _weak_decisions(free_text, cues)
    decided = set(json_picks) | set(cue_picks) | placed | set(weak_picks)
    if len(decided | cues.asked) > 1 or decided & against:
        return ParsedAnswer(None, "conflicting_answers")
    if decided and cues.approved_too - decided:  # "Action 1 is right and Action 2 is also right"
        return ParsedAnswer(None, "both_labels_in_answer")
    if decided:
        pick = decided.pop()
        # the text after the last statement (a cue, or the JSON object that states a pick)
        end = max([cue_end, placed_end, weak_end, *(stop for _, stop in spans)]) if json_picks else max(
            cue_end, placed_end, weak_end)
        if _taken_back(free_text[end:], pick):
            return ParsedAnswer(None, "conflicting_answers")
        return ParsedAnswer(pick, "json" if json_picks else "cue" if cue_picks else "weak_statement" if weak_picks
                            else "placed_label")
    if problems:
        return ParsedAnswer(None, problems[0])
    if against:  # only rejections ("Action2 is incorrect"): no choice was stated
        return ParsedAnswer(None, "no_choice_stated")
    # no statement at all: a label named alone in the free text (not in JSON, not as a key),
    # in no sentence with a negative word
    named = _labels_in(free_text)
    if len(named) > 1:
        return ParsedAnswer(None, "ambiguous")
    if not named:
        return ParsedAnswer(None, "no_label")
    # a line after a colon completes its sentence ("The incorrect action is:\nAction 1"), and a label
    # alone answers the sentence before it ("Which one is wrong?\nAction 1")
    sentences = [sentence for sentence in _sentences(_COLON_BREAK.sub(": ", free_text)) if sentence.strip()]
    naming = [sentence for sentence in sentences if _LABEL.search(sentence)]
    answered = [before for before, sentence in zip(sentences, sentences[1:], strict=False)
                if _LONE_LABEL.fullmatch(sentence) and before.strip()]
    if any(_NEGATIVE_WORD.search(sentence) for sentence in answered) or any(
            _LONE_LABEL.fullmatch(sentence) and _PRONOUN_REJECTS.match(after)  # "Action 1\n\nThis one fails."
            for sentence, after in zip(sentences, sentences[1:], strict=False)):
        return ParsedAnswer(None, "no_choice_stated")
    if any(_NEGATIVE_WORD.search(sentence) or _HABIT_WORD.search(sentence) for sentence in naming) or all(
            sentence.rstrip().endswith("?") for sentence in naming):  # only asked: "I'm not sure. Action 1?"
        return ParsedAnswer(None, "no_choice_stated")
    label = named.pop()
    if label in cues.conditional or _hedged_only(free_text, label):  # "Unless ..., Action 1 is correct."
        return ParsedAnswer(None, "no_choice_stated")
    if _uncontested(free_text, _BOTH_FINE):  # "Action 1 seems slightly better but honestly both are acceptable."
        return ParsedAnswer(None, "both_labels_in_answer")
    return ParsedAnswer(label, "single_label")


def parse_pairwise_answer(text: str | None) -> ParsedAnswer:
    """Which candidate a generative judge chose; conservative by rule (docs/protocols.md).

    The answer is read after the last `</think>` (an unclosed `<think>` is unparseable). A
    choice is stated by: the whole answer being one label ("Action 1", "action_2", "2"); an
    answer key in any JSON object, nested ones included ("chosen action", "winning_action",
    "answer", ...) whose value is one label; a cue ("final answer: Action2", "I choose
    action_1", "Action2 is the correct one") not followed by a negative judgement, not asked
    ("Action2 is correct?"), not qualified by a negative word ("The incorrect action is
    Action1") and not on a label a rejection or a hedge governs ("don't choose Action1", "I
    doubt Action2 is correct", "If Action2 is correct"); or a label alone as the first or last
    sentence ("Action 2\n\nExplanation: ..."), where such sentences name one label. Every statement must
    agree, none may be contradicted by a negative judgement of the same label ("Action1 is
    wrong"), and none may be taken back by a later sentence naming only the other label ("No
    wait, Action 2"): otherwise, or with one statement naming both labels, it is a parse
    failure. Without any statement, rejections alone ("Action2 is incorrect") are a parse
    failure, and a label named alone in the free text (not inside JSON, not as a key) is the
    choice unless a sentence naming it has a negative word ("Avoid Action1."), it is only
    asked about ("Action 1?") or only hedged ("If Action 1 ..."); naming both, or none, is a
    parse failure. A label never counts inside an
    identifier (`create_transaction_2`). Parse failures are scored wrong and counted; this
    function never raises and runs in time linear in the answer's length.
    """
    try:
        answer = answer_text(text)
        if answer is None:
            return ParsedAnswer(None, "empty" if text is None else "unclosed_think" if isinstance(text, str)
                                else "not_text")
        if not answer:
            return ParsedAnswer(None, "empty")
        return _parse(answer)
    except Exception as exc:  # noqa: BLE001 - last line of defence: a model's answer never stops a run
        return ParsedAnswer(None, f"parser_error:{type(exc).__name__}")


# ----------------------------------------------------------------------------- picks from scores


def _real(value: Any) -> float | None:
    """A real number (int or float; numpy's scalars are Real too: a backend may return
    np.float32) as a float, else None: text, a flag (bool, numpy's bool_), an int past a
    float's range."""
    if isinstance(value, bool) or type(value).__name__ == "bool_" or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):
        return None


def usable_score(value: Any) -> float | None:
    """A judge's score as the protocols compare it: a finite real number as a float, else
    None: a score that is text, a flag, NaN or infinite is the judge's failure on that trial
    (unscored, counted in `parse_fail`), never a crash and never a win. The one rule for
    lm-eval, Inspect, the search's pointwise judges and the vLLM server client."""
    number = _real(value)
    return number if number is not None and math.isfinite(number) else None


def usable_logprob(value: Any) -> float | None:
    """A label's log-probability as protocol c compares it (lm-eval's log-likelihood, Inspect's
    top logprobs): a real number that is not NaN and not +inf; -inf is a possible value (the
    label cannot follow). None otherwise: unscored, never a crash."""
    number = _real(value)
    return None if number is None or math.isnan(number) or number == math.inf else number


def first_from_scores(score_1: float, score_2: float) -> float | None:
    """Pointwise and likelihood protocols: higher wins, an exact tie is half a win each."""
    if any(s is None or (isinstance(s, float) and math.isnan(s)) for s in (score_1, score_2)):
        return None
    if score_1 == score_2:
        return 0.5
    return 1.0 if score_1 > score_2 else 0.0


def first_from_logprobs(logprob_1: float | None, logprob_2: float | None) -> float | None:
    """Protocol c: the more likely label wins. Both at -inf (neither label can follow) is no
    evidence either way: unscored, never a tie of half a win."""
    if logprob_1 == -math.inf and logprob_2 == -math.inf:
        return None
    return first_from_scores(logprob_1, logprob_2)  # type: ignore[arg-type]


NORMS: tuple[str, ...] = ("char", "none")  # pointwise log-likelihood normalisations


def normalise_loglikelihood(loglikelihood: float, continuation: str, norm: str) -> float:
    """`none`: the summed log-likelihood (or a PRM score, as is); `char`: per character of the
    continuation (lm-eval's acc_norm idea), so longer actions are not penalised for length."""
    if norm == "none":
        return loglikelihood
    if norm == "char":
        return loglikelihood / max(len(continuation), 1)
    raise ValueError(f"unknown norm {norm!r}; expected 'none' or 'char'")


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: Sequence[tuple[str, float]]  # alternatives at this position (token, logprob)


def first_from_token_logprobs(tokens: Sequence[TokenLogprob], labels: tuple[str, str]) -> float | None:
    """Pairwise likelihood from a generated answer's top logprobs (chat models, Inspect).

    At the first position where an alternative token completes one of the two labels given
    the text generated so far, compare the best logprob completing label 1 with the best
    completing label 2 (a label absent from the top list counts as less likely than any
    listed). None when no position decides between the labels, when a reasoning block is
    never closed, or when a deciding logprob is not a number. Positions inside the model's
    reasoning (before the last `</think>`, as `answer_text` reads the text) decide nothing: the
    text protocols ignore reasoning too.
    """
    start = answer_start("".join(position.token for position in tokens))
    if start is None:
        return None
    prefix = ""
    for position in tokens:
        if len(prefix) < start:  # still in the reasoning
            prefix += position.token
            continue
        best: dict[int, float] = {}
        for alt, logprob in [*position.top, (position.token, position.logprob)]:
            number = _completed_label(prefix[start:] + alt)
            if number is not None:
                usable = usable_logprob(logprob)
                if usable is None:
                    return None  # a NaN is no evidence either way: never "less likely"
                best[number] = max(best.get(number, -math.inf), usable)
        if best:
            return first_from_logprobs(best.get(1, -math.inf), best.get(2, -math.inf))
        prefix += position.token
    return None


def _completed_label(text: str) -> int | None:
    matches = list(_LABEL.finditer(text))
    match = matches[-1] if matches else None
    if match is None or match.end() != len(text.rstrip()):
        return None
    return int(match.group(1))


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class TrialOutcome:
    trial_id: str
    case_id: str
    subset: str
    cluster: str
    error_type: str
    chosen_position: int
    first: float
    parsed: float
    correct: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def outcome(meta: Mapping[str, Any], first: float | None) -> TrialOutcome:
    """Score one trial: `first` is the share of the pick on the first-shown candidate (None
    for an unparseable answer); `meta` carries the trial fields (Trial.metadata())."""
    parsed = first is not None
    first_value = float(first) if parsed else 0.0
    if not parsed:
        correct = 0.0
    elif int(meta["chosen_position"]) == 1:
        correct = first_value
    else:
        correct = 1.0 - first_value
    return TrialOutcome(
        trial_id=str(meta["trial_id"]), case_id=str(meta["case_id"]), subset=str(meta["subset"]),
        cluster=str(meta["cluster"]), error_type=str(meta["error_type"]),
        chosen_position=int(meta["chosen_position"]), first=first_value,
        parsed=1.0 if parsed else 0.0, correct=correct,
    )


# ----------------------------------------------------------------------------- metrics


def mean(values: Sequence[float]) -> float:
    """The mean, NaN for no values (a metric without data)."""
    return sum(values) / len(values) if values else math.nan


def cluster_robust_se(values: Sequence[float], clusters: Sequence[str]) -> float:
    """Standard error of the mean with clustered residuals (CR1 small-sample factor G/(G-1))."""
    n = len(values)
    if n == 0:
        return math.nan
    centre = sum(values) / n
    sums: dict[str, float] = {}
    for value, cluster in zip(values, clusters, strict=True):
        sums[cluster] = sums.get(cluster, 0.0) + (value - centre)
    groups = len(sums)
    if groups < 2:
        return math.nan
    return math.sqrt(groups / (groups - 1) * sum(s * s for s in sums.values())) / n


def consistency(outcomes: Sequence[TrialOutcome]) -> float:
    """Share of cases judged correctly in both orders (only cases seen in both count)."""
    by_case: dict[str, list[TrialOutcome]] = {}
    for o in outcomes:
        by_case.setdefault(o.case_id, []).append(o)
    both = [trials for trials in by_case.values() if {t.chosen_position for t in trials} == {1, 2}]
    return mean([1.0 if all(t.correct == 1.0 for t in trials) else 0.0 for trials in both])


def _within_subset(outcomes: Sequence[TrialOutcome]) -> dict[str, float]:
    """Every metric pooled over the given trials (one subset, or one error type's trials)."""
    correct = [o.correct for o in outcomes]
    parsed_total = sum(o.parsed for o in outcomes)
    result = {
        "acc": mean(correct),
        "acc_cluster_se": cluster_robust_se(correct, [o.cluster for o in outcomes]),
        "consistency": consistency(outcomes),
        "first_rate": sum(o.first for o in outcomes) / parsed_total if parsed_total else math.nan,
        "parse_fail": mean([1.0 - o.parsed for o in outcomes]),
    }
    for slug in ERROR_TYPE_SLUGS:
        result[f"acc_{slug}"] = mean([o.correct for o in outcomes if o.error_type == slug])
    return result


def subset_mean(values: Iterable[float]) -> float:
    """The unweighted mean of the subsets' values (the paper's AVG rule); NaN when any subset
    has no value, as lm-eval's group aggregation gives."""
    values = list(values)
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    return sum(values) / len(values)


# Across subsets (a combined task), these are the unweighted mean of the subsets' values; see
# `aggregate` for the others. One rule for both frameworks (lm-eval's group YAMLs use
# `weight_by_size: false` for exactly these).
SUBSET_MEAN_METRICS: tuple[str, ...] = ("acc", "consistency", "first_rate", "parse_fail")


def aggregate(outcomes: Iterable[TrialOutcome]) -> dict[str, float]:
    """Every metric of METRICS (NaN where a metric has no data). docs/metrics.md is this table:

    - within one subset, every metric pools the subset's trials (`first_rate`: over its
      parsed answers);
    - over several subsets, `acc` (the paper's AVG), `consistency`, `first_rate` and
      `parse_fail` are the unweighted mean of the subsets' values; `acc_cluster_se` is the
      standard error of that mean (subsets are independent: sqrt(sum of squared SEs) / S);
      `acc_<error type>` pools the trials of that type across subsets (a subset may have
      none of a type).
    """
    outcomes = list(outcomes)
    by_subset: dict[str, list[TrialOutcome]] = {}
    for o in outcomes:
        by_subset.setdefault(o.subset, []).append(o)
    result = _within_subset(outcomes)
    if len(by_subset) <= 1:
        return result
    per_subset = [_within_subset(trials) for trials in by_subset.values()]
    for name in SUBSET_MEAN_METRICS:
        result[name] = subset_mean(values[name] for values in per_subset)
    result["acc_cluster_se"] = subset_mean_se(values["acc_cluster_se"] for values in per_subset)
    return result


def subset_mean_se(ses: Iterable[float]) -> float:
    """Standard error of the unweighted mean of subsets' values, from each subset's SE: the
    subsets' trials and clusters are disjoint, so their errors are independent:
    sqrt(sum of squared SEs) / S. NaN when any SE is NaN (or there is none)."""
    ses = list(ses)
    if not ses or any(math.isnan(se) for se in ses):
        return math.nan
    return math.sqrt(sum(se * se for se in ses)) / len(ses)


def truncated_share(flags: Sequence[bool | None], subsets: Sequence[str] | None = None) -> float:
    """Share of trials whose history a scoring engine shortened to fit the model's context
    (over several subsets: the unweighted mean of their shares); NaN when a backend did not
    say (a flag is None), never a guessed 0."""
    if not flags or any(flag is None for flag in flags):
        return math.nan
    if subsets is not None and len(set(subsets)) > 1:
        groups: dict[str, list[bool | None]] = {}
        for flag, subset in zip(flags, subsets, strict=True):
            groups.setdefault(subset, []).append(flag)
        return subset_mean(truncated_share(group) for group in groups.values())
    return sum(1.0 for flag in flags if flag) / len(flags)
