"""The judge-answer parser is conservative by rule and hostile-input safe.

Regression cases reproduce answers that were misread before; property tests (hypothesis)
check, over random and adversarial strings, that the parser never raises, that its JSON work
is linear in the answer's length, that swapping the two labels swaps the pick, and that an
answer naming both labels the same way is always a parse failure.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorers import answers as model_text
from scorers import core
from scorers.core import parse_pairwise_answer

# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("text, how", [
    # a nested answer disagreeing with the top-level one (was: Action2)
    ('{"reasoning": {"answer": "Action2"}, "chosen action": "Action1"}', "conflicting_answers"),
    # a cue followed by a negative judgement states no choice (was: Action2)
    ("Answer: Action2 is incorrect, so I prefer Action1.", "cue"),
    ("Answer: Action2 is incorrect.", "no_choice_stated"),
    ("Final answer: Action1 or Action2", "both_labels_in_answer"),
    ("Action1 is wrong. Final answer: Action1", "conflicting_answers"),
    # both labels as the choice (was: Action2)
    ('{"chosen action": "Action2 or Action1"}', "both_labels_in_answer"),
    # two answer keys that disagree (was: the first by priority)
    ('{"answer": "Action2", "chosen action": "Action1"}', "conflicting_answers"),
    # an example in the reasoning against the final answer (was: Action1)
    ('I must answer like {"chosen action": "Action1"}. Final answer: Action2', "conflicting_answers"),
    # a tool name is not a label (was: a label)
    ("I would call create_transaction_2 here.", "no_label"),
    ("action_2_id and Action12", "no_label"),
    # SmolLM2-135M-Instruct on rebuilt ToolTalk: a label only as a key name (was: Action1)
    ('{"rationale": "The user wants to change the password.", "action1": "ChangePassword", '
     '"parameters": {"old": "x"}}', "no_label"),
    ('{"chosen action": "neither"}', "answer_key_without_label"),
    # rejections of the only label named are no choice (found in review: were single-label picks)
    ("Action1 isn't right.", "no_choice_stated"),
    ("Action 1 is the incorrect one.", "no_choice_stated"),
    ("Action2 should not be chosen.", "no_choice_stated"),
    ("Action2 would not achieve the goal.", "no_choice_stated"),
    ("The answer is not Action1.", "no_choice_stated"),
    ("Avoid Action1.", "no_choice_stated"),
    ("Action1: wrong tool.", "no_choice_stated"),
    ('{"chosen action": true}', "answer_key_not_a_label"),
    # an adversarial probe (2026-12-07) of answers that were read as a pick:
    # a reasoning block opened again after the last closed one: the answer was cut off (was: Action1)
    ("<think>a</think><think>I pick Action1 because", "unclosed_think"),
    # the same key twice: json keeps the last in silence (was: Action2)
    ('{"selected action": "Action1", "selected action": "Action2"}', "ambiguous"),
    ('{"choice": "1", "choice": "2"}', "no_label"),
    # one label naming both with a bare number (was: Action1)
    ('{"answer": "Action 1 or 2"}', "both_labels_in_answer"),
    ("Final answer: Action1 or 2", "both_labels_in_answer"),
    ("Final answer: Action1 and also Action2", "both_labels_in_answer"),
    ("Action 1 / 2", "ambiguous"),
    ("Action1 & 2", "ambiguous"),
    # a stated label rejected in the free text around the JSON (was: Action1)
    ('{"chosen action": "Action1"} The answer is not Action1.', "conflicting_answers"),
    ('{"chosen action": "Action1"} Avoid Action1.', "conflicting_answers"),
    ('{"answer": "Action1"}\nAnswer: not Action1', "conflicting_answers"),
    # a label inside JSON nested too deep to decode (was: the shallow one inside it, Action2)
    ('{"selected action": "Action1", "deep": ' + "[" * 40 + '{"selected action": "Action2"}' + "]" * 40 + "}",
     "label_in_json_too_deep"),
    # reasoning in <thinking>/<reasoning> tags is reasoning, as <think> is (was: Action1)
    ("<reasoning>Action1</reasoning>", "empty"),
    ("<thinking>Action1 is right", "unclosed_think"),
    ("I cannot choose Action1. Final answer: Action1", "conflicting_answers"),
    # a hostile-output probe (2026-12-07): each was read as a choice
    # -- a stated choice taken back, or two choices
    ("Final answer: Action 1. No wait, Action 2.", "conflicting_answers"),
    ('{"answer": "Action 1"}\n\nWait, I change my mind: Action 2.', "conflicting_answers"),
    ('The chosen action is "Action 2"... just kidding, Action 1.', "conflicting_answers"),
    ("Action 1 is right and Action 2 is also right.", "both_labels_in_answer"),
    ("Action 2 looks fine. Action 1 is also correct.", "ambiguous"),
    ("Final answer: Action 1? Or maybe Action 2.", "ambiguous"), ("Final answer: Action 1?", "no_choice_stated"),
    # -- a label a hedge or a rejection governs, or a question
    ("Neither Action 1 nor Action 2 is correct.", "ambiguous"),
    ("I doubt Action 2 is correct.", "no_choice_stated"),
    ("Some might say Action 2 is better, but I disagree.", "no_choice_stated"),
    ("If Action 2 is correct, the file would exist; it does not.", "no_choice_stated"),
    ("Action 2 is correct? No.", "no_choice_stated"), ("Action 1 correct? No.", "no_choice_stated"),
    ("I'm not sure. Action 1?", "no_choice_stated"),
    ("Action 1 should be avoided.", "no_choice_stated"), ("Avoiding Action 1.", "no_choice_stated"),
    ("Action 1 is the worst.", "no_choice_stated"), ("Action 1 is flawed.", "no_choice_stated"),
    ("Action 1 is inappropriate.", "no_choice_stated"), ("Avoiding Action 1 is best.", "no_choice_stated"),
    # -- both named
    ("Action 1 and 2", "ambiguous"), ("Action 1 and 2 are both fine.", "ambiguous"),
    # a review of free-text answers (2026-12-07): a cue whose noun a negative word qualifies names
    # the wrong one (was: a pick of it); a cue asked with its noun (was: a pick)
    ("The incorrect action is Action 1.", "no_choice_stated"), ("The wrong answer: Action 2", "no_choice_stated"),
    ("This is not the right one: Action 1", "no_choice_stated"), ("The incorrect action is:\nAction 1", "no_choice_stated"),
    ("Action 1 is the correct one?", "no_choice_stated"), ("Action 1 is the better action?", "no_choice_stated"),
    ("Action 1 is far from correct.", "no_choice_stated"),
    # -- a choice taken back by a last sentence that is the other label alone (was: Action 1)
    ("Final answer: Action 1. Hmm, let me reconsider. Action 2.", "conflicting_answers"),
    ("Answer: Action 1. On reflection, I'd go with Action 2.", "conflicting_answers"),
    ("Action 1? Action 2.", "ambiguous"), ("The wrong decision: Action 1", "no_choice_stated"),
    ("Action 2 is correct; Action 1 is too.", "both_labels_in_answer"),
    # -- a second review (319 answers): a cue under a condition, a retraction with "no", a label
    # answering a question that names the wrong one, an approval of both (each was a pick)
    ("Unless the order has already shipped, Action 1 is correct.", "no_choice_stated"),
    ("Assuming the token is still valid, Action 2 is the better choice.", "no_choice_stated"),
    ("If the API supports batch requests, Action 2 is better. Otherwise, Action 1.", "ambiguous"),
    ("Action 1 is better if the file exists; otherwise Action 2 is better.", "ambiguous"),
    ("Action 2 would be better if the user had confirmed. Since they haven't, Action 1.", "ambiguous"),
    ("The answer is Action 1. Wait, no \u2014 Action 2.", "conflicting_answers"),
    ("Final answer: Action 1. Hmm, no: Action 2.", "conflicting_answers"),
    ("Which one is wrong?\nAction 1", "no_choice_stated"), ("The action that fails is:\nAction 2", "no_choice_stated"),
    ('{"chosen action": "Action 1"} Note: Action 2 would also work.', "both_labels_in_answer"),
    ("Action 2. (Action 1 also works.)", "both_labels_in_answer"),
    # -- a label a hedge governs, and nothing else states (each was a pick)
    ("Maybe Action 1.", "no_choice_stated"), ("Probably Action 2.", "no_choice_stated"),
    ("It could be Action 1.", "no_choice_stated"), ("Action 1, perhaps.", "no_choice_stated"),
    ("Action 1 might be correct.", "no_choice_stated"),
    # -- its adversarial review: headings written unevenly (the first was a pick of Action 1), a
    # last label that completes an unfinished sentence (a pick of the rejected one)
    ("Action 1\n- Deletes the files without asking.\n\nAction 2 - lists the files first", "ambiguous"),
    ("**Action 1**\nCalls the refund tool with the wrong amount.\n\n**Action 2:**\nThe right amount.", "ambiguous"),
    ("Action 2 correctly lists the files. The one to avoid is\n**Action 1**", "ambiguous"),
    ("Action 2 uses the right tool.\n\n**Action to reject:**\nAction 1", "ambiguous"),
    ("__Action 2__\n\nAction 1 deletes data.", "ambiguous"),  # was a pick of Action 1: "__" hid the label
    # -- task version 11-A: a choice taken back by the other candidate named by its place or number,
    # a habit, a lone label a pronoun's sentence then rejects, a label only named beside an
    # approval of both, a preference asked or under a condition (the first four were picks)
    ("Final answer: Action 1. Wait \u2014 the second one.", "conflicting_answers"),
    ("Final answer: Action 1.\nWait, action two.", "conflicting_answers"),
    ("Action 1. Hmm, actually the latter.", "conflicting_answers"),
    ("Normally I'd go with Action 1.", "no_choice_stated"),
    ("Action 1\n\nThis is the action that should be avoided: it drops the table.", "no_choice_stated"),
    ("Action 1 seems slightly better but honestly both are acceptable.", "both_labels_in_answer"),
    ("Go with Action 1 only if the user is logged in.", "no_choice_stated"),
    ("Action 1 would be my choice if the file existed.", "no_choice_stated"),
    ("Action 2 > Action 1?", "ambiguous"), ("Therefore: Action 1 or Action 2.", "ambiguous"),
    ("If the user is an admin, Action 2 over Action 1.", "ambiguous"),
    ("Choosing Action 1 over Action 2 would ignore the user's request.", "ambiguous"),
    ("So Action 1 retries the same call, which fails again, while Action 2 fixes the ticker.", "ambiguous"),
    # -- its adversarial review (288 answers): weak statements (conclusions, imperatives, preferences,
    # a line's verdict, "is my choice") that reasoning writes too; each was a pick of the first label
    ("So Action 1.\nThat makes Action 2 preferable.", "ambiguous"),  # the other named after it
    ("So Action 1. Hmm, on second thought, Action 2 handles the empty-cart case.", "ambiguous"),
    ("So Action 1... or maybe Action 2. I can't decide.", "ambiguous"),
    ("Overall, Action 1.\nOverall, Action 2.", "ambiguous"),
    ("Action 2 is my pick for speed, Action 1 is my pick for safety.", "ambiguous"),
    ("Pick Action 1 and the user's only copy of the file is gone. Action 2 makes a backup first.", "ambiguous"),
    ("Choose Action 1 over Action 2 would be wrong: Action 1 deletes the draft.", "no_choice_stated"),
    ("Prefer Action 1 over Action 2 only when the cache is warm, and we don't know whether it is.", "ambiguous"),
    ("Go with Action 1 when the user has confirmed the address.", "no_choice_stated"),
    ("Go with Action 1, if the user agrees.", "no_choice_stated"),  # a pick before the read-through
    ("Which action repeats the call that already failed?\n-> Action 1.\nRepeating it cannot help.",
     "no_choice_stated"),
    ("Incorrect:\n-> Action 1", "no_choice_stated"),
    ("Execution order: Action 1 > Action 2.", "ambiguous"),
    ("The previous reviewer wrote:\n> Action 1 rather than Action 2.\nI'm not sure I agree.", "ambiguous"),
    ("Action 1: correct\nAction 2: correct", "ambiguous"),  # a checklist
    ("Action 1\n\nThe action above is the one to avoid.", "no_choice_stated"),
    ("Normally, though, I'd go with Action 1.", "no_choice_stated"),
    ("Final answer: Action 1. Wait, make it the second.", "conflicting_answers"),
    ("Final answer: Action 1. Wait, the second one is what I meant.", "conflicting_answers"),
    # -- a second, blind review (415 answers): picks of the 10-A parser that are failures now
    ("Final answer: Action 1. Wait, the other one.", "conflicting_answers"),
    ("Final answer: Action 1. Wait, the second one is what I meant, sorry.", "conflicting_answers"),
    ("Action 1. Wait, no.", "conflicting_answers"),
    ('Respond in JSON: {"rationale": ..., "chosen action": "Action1" or "Action2"}', "both_labels_in_answer"),
    ("The best action is Action 1 because it uses the correct API.\n\n"
     '{"rationale": "r", "chosen action": "Action2"}', "conflicting_answers"),
    ("Go with Action 1 and you'll lose the user's data.", "no_choice_stated"),
    ("-> Action 1 (if the user confirms)", "no_choice_stated"),
    ("I usually go with Action 2 in these situations.", "no_choice_stated"),
    ("So Action 1 is out.", "no_choice_stated"), ("Therefore: Action 2 is ruled out.", "no_choice_stated"),
    ("Action 2\n\nThis is not the best choice.", "no_choice_stated"),
    ("Action 1.\n\nIt is a poor choice here because the token has expired.", "no_choice_stated"),
])
def test_answers_misread_before(text: str, how: str) -> None:
    parsed = parse_pairwise_answer(text)
    expected_pick = {"cue": 1}.get(how)
    assert (parsed.pick, parsed.how) == (expected_pick, how)


@pytest.mark.parametrize("text, pick", [
    ('{"rationale": "Action1 calls the wrong tool", "chosen action": "Action2"}', 2),
    ('{"rationale": "the correct action is Action2", "chosen action": "Action2"}', 2),
    ('{"rationale": "r", "winning_action": "action_1"}', 1),
    ('{"chosen action": 2}', 2),
    ("Action2 is the correct one.", 2),
    ("I choose action_1 because it passes the file name.", 1),
    ("After comparing both, Action1 misses a parameter. The answer is Action2.", 2),
    ("<thinking>Action1 is right?</thinking>Action2", 2),  # the answer after the reasoning
    ("I wouldn't pick Action1. Action2 is the correct one.", 2),
    ("The answer is Action1 because Action2 repeats the call.", 1),
    ('{"chosen action": "Action2"} Action1 is not needed.', 2),
    # a review of the 7-A rules: a number or label after a list word is no hedge
    ("The answer is Action1, not Action2.", 1), ("**Final answer:** Action 1, not Action 2", 1),
    ("Answer: Action 1, 2 is wrong.", 1), ("The better step is Action1, then Action2 can follow.", 1),
    # the probe's rules read these as before: a rejection governs its own label only; reasons
    # after a choice, and a conditional that governs no label, state no doubt of it
    ("Final answer: Action 2. Action 1 swaps the airports.", 2),
    ("Action 2 is correct because it does not delete the file.", 2), ("If I had to pick, the answer is Action 1.", 1),
    ("Action 2 is better. Actually, Action 2 is the only valid one.", 2), ("I chose Action 1.", 1),
    # a second review: a retraction word that opens a reason, a concession before the choice, a
    # word that judges what it stands next to (each was a failure in the first version of the rules)
    ("Final answer: Action 2\n\nActually, Action 1 misses the date filter the user asked for.", 2),
    ("The correct action is Action 1.\n\nWait, Action 2 uses Fahrenheit while the user asked for Celsius.", 1),
    ("Action 2 is better. I mean, Action 1 deletes the file without asking.", 2),
    ('{"chosen_action": "Action 1"}\nActually, Action 2 omits the required `user_id`.', 1),
    ("Final answer: Action 1. Action 1 is also correct in its units.", 1),
    ("Both look plausible. Action 2 is also fine in format, but it books the wrong date. Final answer: Action 1", 1),
    ('{"rationale": "Action 2 is also valid, but it books the wrong date.", "chosen_action": "Action 1"}', 1),
    ("Action 2 avoids the redundant search call and answers the user directly.", 2),
    ("Action 1 prevents a harmful deletion by asking first.", 1), ("Without a doubt, Action 2.", 2),
    ("Final answer: Action 2. Action 2 avoided the mistake of guessing the ID.", 2),
    ("I would say Action 1 is better.", 1), ("Answer: Action 2. If Action 2 is executed, the refund is made.", 2),
    ("The correct action is Action 1. If we chose Action 2, the file would be deleted.", 1),
    ("Is Action 1 correct? Yes, Action 1 fetches the record first.", 1),
    # the same review: clear answers that were parse failures (a label alone as the first or last
    # sentence, contractions of a choice, comparatives; the blind readers' 476 notes written as
    # "ActionN\n\nExplanation: <note>" read right went from 130 to 470, as in the other formats)
    ("Action 2\n\nExplanation: Action 1 swaps the source and the destination.", 2),
    ("**Action 1**\n\nReason: Action 2 guesses the ID the user has not given.", 1),
    ("Action 1 tries to delete. Action 2 is the safer option. Action 2.", 2),
    ("Comparing the two: Action 1 repeats the last call; Action 2 reports the result.\n\nAction 2", 2),
    ("Action 1\n- deletes the file\nAction 2\n- lists the files\nSo Action 2 is correct.", 2),
    ("I'd pick Action 2; Action 1 passes a string where an integer is expected.", 2),
    ("I\u2019ll go with Action 1.", 1), ("I'm going with Action 1 since Action 2 seems problematic.", 1),
    ("The wrong answer is Action 1. The right answer is Action 2.", 2),
    # its adversarial review: keys a judge writes, two negatives, markdown's underscores, a
    # concession next to the choice (each was a failure in the first version of the 10-A rules)
    ('{"final_choice": "Action 2", "reason": "Action 1 uses the wrong currency."}', 2),
    ('{"selectedAnswer": "Action 1", "confidence": 0.8}', 1), ('{"best_answer": "Action 2"}', 2),
    ("Of the two, the least bad choice is Action 2.", 2), ("Not a bad choice: Action 2. It is safe.", 2),
    ("Action 2 is far from perfect, but it is the better choice. Final answer: Action 2", 2),
    ("__Answer: Action 2__\n\nAction 1 deletes data.", 2), ("**Final answer:** __Action 2__", 2),
    ("## Choosing the best answer\n\n### Action 1\nIt books one way.\n\n### Action 2\nIt books the round "
     "trip.\n\nAction 2 is better.", 2),
    ("**Answer**\n\nAction 1 deletes the file, while Action 2 lists it first. Action 2 is better.", 2),
    ('{"verdict": "Action 2", "reason": "Action 1 books the wrong date."}', 2), ('{"final_decision": "action_1"}', 1),
    ("Verdict: **Action 2**\n\nAction 1 skips verification.", 2),
    ("If I had to pick, Action 1 is better.", 1), ("Which one is correct?\nAction 2", 2),
    ("Action 2 might be slower, but it handles the login.", 2),
    ("Action 2. Maybe Action 1 would work if the user logged in.", 2),
    ('{"winner": "Action2"}', 2), ('{"selected": "Action1"}', 1),
    ("Action 1 fails to handle the error. Action 2 handles it gracefully. Chosen: Action 2", 2),
    ("Avoid Action 2 since it overwrites the file. Action 1 creates a backup first. My pick: Action 1.", 1),
    ("Action 1\n- Deletes the files without asking.\n\nAction 2 - lists the files first\n\nVerdict: Action 2", 2),
    # task version 11-A (each was a parse failure): a conclusion whose sentence is the label alone,
    # an imperative, "is my choice", one label preferred to the other, a line's verdict, a habit
    # overruled, a choice with a concession of both
    ("Action 2 is wrong. It calls `send_sms` when the user asked for an email.\n\nTherefore: Action 1", 1),
    ("Action 1 calls the tool. Action 2 does not call the tool, it just replies. So Action 1.", 1),
    ("**TL;DR:** Action 2.\n\n**Details:** the recursive flag matters here.", 2),
    ("Action 2 looks tempting but is wrong: it assumes the user is an admin. \u2192 Action 1", 1),
    ("Action 2 fails.\n-> Action 1", 1), ("Overall, Action 2.", 2),
    ("Definitely not Action 2 \u2014 it sends money to the wrong account. Go with Action 1.", 1),
    ("Action 2 would throw on an empty list. So Action 1 is my choice.", 1),
    ("Action 2 > Action 1", 2), ("Action 1 < Action 2", 2), ("Action 2 (not Action 1)", 2),
    ("Action 1 rather than Action 2.", 1), ("Action 2 instead of Action 1.", 2), ("Prefer Action 1 over Action 2.", 1),
    ("Action 1 is preferred over Action 2.", 1), ("Action 2 is worse than Action 1.", 1),
    ("Action 1 is not as good as Action 2.", 2), ("Action 1, not Action 2.", 1),
    ("Action 1: wrong tool.\nAction 2: correct tool.", 2), ("Action 1: correct.\nAction 2: incorrect.", 1),
    ("**Action 1** - \u274c wrong\n**Action 2** - \u2705 right", 2),
    ("Normally I'd go with Action 1, but here Action 2 is correct because the user asked for a refund.", 2),
    ("Action 2 is the better one, though both are valid.", 2), ("Both are valid, but Action 1 is simpler.", 1),
    ("Action 2\n\nThis is correct because Action 1 does not pass the token.", 2),
    # the adversarial review's clear answers the first version of these rules failed: a statement
    # beside a checklist or a JSON rationale that thinks aloud, a pronoun's sentence that does not
    # reject, "valid calls" (no approval of both), a habit's clause closed
    ("Format check:\n- Action 1: valid\n- Action 2: valid\nCorrectness:\n- Action 1: wrong parameter\n"
     "- Action 2: right parameter\n\nFinal answer: Action 2", 2),
    ("1. Right tool?\n   - Action 1: right\n   - Action 2: right\n2. Right arguments?\n   - Action 1: wrong\n"
     "   - Action 2: right\n\nAction 2 is correct.", 2),
    ('{"rationale": "Go with Action 1 and the refund is issued twice. Action 2 checks first.", '
     '"chosen action": "Action2"}', 2),
    ('{"rationale": "Number of API calls: Action 2 > Action 1.", "chosen action": "Action1"}', 1),
    ("You might be tempted to skip ahead and pick Action 1, but Action 2 is correct.", 2),
    ("Task: choose Action 1 or Action 2, whichever follows the policy.\n\nAction 1 refunds without checking. "
     "Action 2 checks the status first. Action 2 is better.", 2),
    ("Action 1\n\nThis is not a trivial choice, but it is correct because the token is still valid.", 1),
    ("Action 2\n\nIt doesn't repeat the failed search; it fixes the date range.", 2),
    ("**Action 1**\n\nIt's not perfect, but it's the best option here.", 1),
    ("Both actions are valid JSON calls. The right move is Action 2 since it fetches the account first.", 2),
    ("Usually I go with Action 1 in these cases, and this case is no different: Action 1 is correct.", 1),
    ("Action 2 verifies the recipient. Action 1 does not.\nChoose Action 2, since the policy requires it.", 2),
    # the second review: options listed before a choice, a retraction taken back in turn
    ("Options:\n1. Choose Action 1, since it's faster.\n2. Choose Action 2, since it validates the schema.\n\n"
     "Validation matters more. Action 2.", 2),
    ("Final answer: Action 1. Wait \u2014 the second one; no, the first one.", 1),
    ("Final answer: Action 1. Wait, the second one... no, the first one was right all along.", 1),
    ("Action 1\n\nIt would be a mistake to avoid this one.", 1),
])
def test_clear_answers_still_parse(text: str, pick: int) -> None:
    assert parse_pairwise_answer(text).pick == pick


@pytest.mark.parametrize("text", [
    '{"a": ' + "[" * 1000,  # made json raise RecursionError and killed the whole run
    '{"chosen action": ' + "[" * 5000 + '"Action1"' + "]" * 5000 + "}",
    "{" * 100_000,
    '{"a":' * 20_000 + "1" + "}" * 20_000,
    "<think>" + "x" * 10_000,
])
def test_degenerate_answers_never_raise(text: str) -> None:
    parsed = parse_pairwise_answer(text)
    assert parsed.pick is None
    assert not parsed.how.startswith("parser_error"), parsed.how


def test_deep_json_is_not_decoded_but_shallow_json_after_it_is() -> None:
    text = "[" * 100 + "]" * 100 + ' then {"chosen action": "Action2"}'
    assert parse_pairwise_answer(text).pick == 2


# --------------------------------------------------------------------------- properties

_LABELS = ("Action1", "Action2")
# pieces of answers models write, plus adversarial ones
_FRAGMENTS = [
    "Action1", "Action2", "action_1", "action_2", "Action 1", "2", "1", "{", "}", "[", "]", '"', "'", ":", ",",
    "\n", " ", "```json\n", "```", "<think>", "</think>", '{"chosen action": "', '"}', "final answer: ",
    "answer", "I choose ", " is the correct one", "create_transaction_2", "\\", "NaN", "is incorrect",
    '{"rationale": "', '", "answer": "', "**", "\u00e9", "\x00",
]
_fragment_texts = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8), max_size=40).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), _fragment_texts))
def test_the_parser_never_raises_and_answers_within_its_rules(text: str) -> None:
    parsed = parse_pairwise_answer(text)
    assert parsed.pick in (None, 1, 2)
    assert not parsed.how.startswith("parser_error"), (text, parsed)


def _swap(text: str) -> str:
    """The same answer with the two labels exchanged (every spelling of them)."""
    return re.sub(r"(?<![A-Za-z0-9])(?<![A-Za-z0-9]_)(?<![A-Za-z0-9]__)(action[ \t_\-#]*)([12])"
                  r"(?![A-Za-z0-9]|_+[A-Za-z0-9])",
                  lambda m: m.group(1) + ("2" if m.group(2) == "1" else "1"), text, flags=re.IGNORECASE)


@settings(max_examples=400, deadline=None)
@given(_fragment_texts)
def test_swapping_the_labels_swaps_the_pick(text: str) -> None:
    if re.search(r"(?<![\w.])[12](?![\w.])", text):
        return  # a bare digit is a label only when it is the whole answer; swapping skips digits
    parsed, swapped = parse_pairwise_answer(text), parse_pairwise_answer(_swap(text))
    assert swapped.pick == (None if parsed.pick is None else 3 - parsed.pick), (text, parsed, swapped)


# wrappers that state a label in one self-contained way (prefix, suffix)
_WRAPPERS = [
    ("", ""), ('{"chosen action": "', '"}'), ("Final answer: ", "."), ("I choose ", ""), ("**", "**"),
    ('{"rationale": "r", "answer": "', '"}'), ('```json\n{"winning_action": "', '"}\n```'), ('{"', '": "x"}'),
    ("The ", " tool"), ("", " is the correct one"), ("answer: ", ""), ("[", "]"), ('{"reasoning": {"answer": "', '"}}'),
]
_FILLER = st.text(alphabet="abc xyz.\n-!?", max_size=12)
# between the two labels, no sentence end: "Action 1. Action 2 x" names them in two ways (a
# sentence that is a label alone first, then a label in a sentence: the choice and its reason)
_SAME_SENTENCE = st.text(alphabet="abc xyz-,", max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_WRAPPERS), st.sampled_from(["Action{}", "action_{}", "Action {}", "ACTION-{}"]),
       _FILLER, _SAME_SENTENCE, _FILLER, st.booleans())
def test_naming_both_labels_the_same_way_is_a_parse_failure(wrapper, spelling, before, between, after,
                                                            two_first: bool) -> None:
    prefix, suffix = wrapper
    labels = [spelling.format(n) for n in ((2, 1) if two_first else (1, 2))]
    # separated by spaces: glued to a word ("oneAction2") a label is part of an identifier
    text = " ".join([before, prefix + labels[0] + suffix, between, prefix + labels[1] + suffix, after])
    assert parse_pairwise_answer(text).pick is None, text


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["Action{}", "action_{}", "**Action {}**", "### Action {}", "Action-{}."]),
       st.lists(st.sampled_from(["Action 1 deletes the file.", "Action 2 lists it.", "Both are calls.", "- a",
                                 "- b", "Action 1?", "Action 2?"]), max_size=4),
       st.lists(st.sampled_from(["Action 1 deletes the file.", "- c", "So that is it."]), max_size=3),
       st.booleans())
def test_both_labels_alone_in_their_sentences_are_a_parse_failure(spelling, middle, tail, two_first: bool) -> None:
    """Sentences that are a label alone state a choice by their place only where they name one
    label: naming both they are headings ("Action 1\n- deletes\nAction 2\n- lists")."""
    first, second = (2, 1) if two_first else (1, 2)
    text = "\n".join([spelling.format(first), *middle, spelling.format(second), *tail])
    assert parse_pairwise_answer(text).pick is None, text


@pytest.mark.parametrize("make", [
    lambda n: '{"a": ' * n,
    lambda n: "{" * n + "}" * n,
    lambda n: '{"x": "' + "{" * n,
    lambda n: "[" * n + '{"chosen action": "Action1"}' + "]" * n,
    lambda n: '{"answer": {"answer": ' * (n // 20) + '"Action1"' + "}}" * (n // 20),
    lambda n: ('{"rationale": "' + "x" * 30 + '", ') * (n // 40),
    lambda n: "Action1 " * (n // 8),
])
def test_json_decoding_work_is_linear_in_the_answer_length(make, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real_loads = model_text.loads

    def counting_loads(text: str):
        decoded.append(len(text))
        return real_loads(text)

    monkeypatch.setattr(model_text, "loads", counting_loads)
    for n in (1_000, 8_000):
        decoded.clear()
        text = make(n)
        core.parse_pairwise_answer(text)
        # every character is decoded at most once per nesting level that is decoded at all
        assert sum(decoded) <= (model_text.MAX_JSON_DEPTH + 1) * len(text), (n, sum(decoded), len(text))
