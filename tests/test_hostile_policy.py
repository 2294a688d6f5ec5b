"""Policy output in the rebuild is hostile input: it never crashes a build, first run or rerun
from the call cache, and every failure of a proposed call is an observation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("bfcl_eval", reason="install with: pip install --no-deps bfcl-eval==2026.3.23 mpmath")

from inspect_ai.model import ModelOutput, ModelUsage, get_model  # noqa: E402

from toolprm_tasks.core.tool_calls import UNREADABLE_ARGUMENTS, as_tool_calls, not_json, parse_python_call  # noqa: E402
from toolprm_tasks.envs.bfcl import Environment  # noqa: E402
from toolprm_tasks.rebuild.build import Models, build  # noqa: E402
from toolprm_tasks.rebuild.online import parse_annotation  # noqa: E402
from toolprm_tasks.rebuild.policy import INVALID, parse_action, read_answer  # noqa: E402

DEEP_UNARY = "cd(folder=" + "-" * 100_000 + "1)"  # was a bare MemoryError
DEEP_ATTRIBUTE = "a" + ".b" * 100_000 + "()"  # was RecursionError
DEEP_LIST = "f(x=" + "[" * 3_000 + "]" * 3_000 + ")"


@pytest.mark.parametrize("text", [DEEP_UNARY, DEEP_ATTRIBUTE, DEEP_LIST, "f(" * 50_000, "x" * 200_000 + "()"])
def test_degenerate_call_strings_are_not_calls(text: str) -> None:
    assert parse_python_call(text) is None


@pytest.mark.parametrize("text", [DEEP_UNARY, DEEP_ATTRIBUTE, '{"name": "cd", "parameters": ' + "[" * 5_000,
                                  "<think>never closed", None])
def test_degenerate_policy_answers_are_replies(text) -> None:
    action = parse_action(text)
    assert isinstance(action, str)


@pytest.mark.parametrize("text", ['{"first_wrong_step": ' + "[" * 5_000, "[1] {\"first_wrong_step\": 0, "
                                  "\"corrected_action\": \"Ask the user.\"}", None])
def test_degenerate_annotations_never_raise(text) -> None:
    parsed = parse_annotation(text)
    assert parsed in (None, (0, "Ask the user."))


@pytest.mark.parametrize("call, fragment", [
    ("power(base=10, exponent=5000)", "more than 4300 digits"),  # was an uncaught ValueError
    ("power(base=10, exponent=999999999)", "more than 4300 digits"),  # would never finish
    ("square_root(number=2, precision=1000000000)", "out of range"),
    ("logarithm(value=2, base=10, precision=1e9)", "out of range"),  # a float: it hung the search for good
    ("logarithm(value=2, base=10, precision='2000000')", "out of range"),  # mpmath takes int() of a string too
    ("logarithm(value=2, base=10, precision=' 2000000 ')", "out of range"),
    ("logarithm(value=2, base=10, precision=float('inf'))", "Error during execution"),  # no expression is run
    ("power(base=1e300, exponent=1e300)", "Error during execution"),
    ("add(a=1)", "Error during execution"),
])
def test_math_calls_that_cannot_finish_or_print_are_observations(call: str, fragment: str) -> None:
    observation = Environment(["MathAPI"], {}).execute(call)
    assert not observation.ok and fragment in observation.text


def test_math_calls_keep_bfcl_semantics() -> None:
    env = Environment(["MathAPI"], {})
    assert json.loads(env.execute("power(base=10, exponent=3)").text) == {"result": 1000}  # an int, as BFCL
    assert json.loads(env.execute("add(a=2, b=3)").text) == {"result": 5}


def _policy(answer_for_prompt):
    def outputs(input, tools, tool_choice, config):  # noqa: A002 - Inspect's signature
        output = ModelOutput.from_content(model="mockllm", content=answer_for_prompt(input[-1].text))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=outputs)


def test_a_build_with_hostile_proposals_finishes_and_so_does_its_rerun(tmp_path: Path) -> None:
    answers = [DEEP_UNARY, DEEP_ATTRIBUTE, json.dumps({"name": "power", "parameters": {"base": 10, "exponent": 5000}})]
    calls: list[str] = []

    def answer(prompt: str) -> str:
        calls.append(prompt)
        return answers[(len(calls) - 1) % len(answers)]

    models = Models(policy=_policy(answer), sampling=("policy",))
    first = build(["bfcl"], tmp_path, models=models, limit=3)["bfcl"]
    made = len(calls)
    # the policy answers the test split's points only (a base conversation is its own cluster;
    # the training split is rule-made)
    tested = len(first["splits"]["test"]["clusters"])
    assert made == tested >= 1
    # the rerun answers from the call cache: the same hostile answers, again no crash
    again = build(["bfcl"], tmp_path, models=models, limit=3)["bfcl"]
    assert len(calls) == made
    assert again["files"] == first["files"]
    records = json.loads((tmp_path / "prmbench_rebuilt_bfcl.json").read_text())
    failures = [f for f in json.loads((tmp_path / "check_failures_bfcl.json").read_text()) if f["sampling"] == "policy"]
    # every proposal is accounted for: a case, a failed check, or equivalent to gold
    assert len(records) + len(failures) + first["model_proposals_equivalent_to_gold"] == tested


@pytest.mark.parametrize("answer", [
    '{"name": "ls", "parameters": {"a": ' + "[" * 600 + "]" * 600 + "}}",  # decoded, then crashed merging
    "ls(a=" + "[" * 600 + "]" * 600 + ")",
])
def test_deeply_nested_arguments_are_no_call_and_never_crash_a_search_step(answer: str) -> None:
    """Found in review: a 600-deep argument list decoded as a call, then comparing candidates
    (normalising them) raised RecursionError and ended the search sample."""
    from toolprm_tasks.agent_search.actions import INVALID, REPLY, merge, parse_answer

    action = parse_answer(answer)
    assert action.kind in (INVALID, REPLY)
    assert not isinstance(parse_action(answer), dict)
    merged = merge([action, parse_answer('{"name": "ls", "parameters": {}}'), action], None)
    assert sorted(c.count for c in merged) == [1, 2]


# Python literals that a call string may hold and JSON cannot (json.dumps raised on each in
# render_value, after the search or the build had parsed the answer as a call), with what
# the reader says of them
NOT_JSON = [
    ("cd(folder={'a', 'b'})", "a set"),
    ("cd(folder=frozenset())", None),  # a call, not a literal: no call at all
    ("cd(folder=b'x')", "bytes"),
    ("cd(folder=1j)", "a complex number"),
    ("cd(folder=...)", "Ellipsis"),
    ("cd(folder={1: 'a'})", "key that is not a string"),
    ("cd(folder={(1, 2): 'a'})", "key that is not a string"),
    ("cd(folder=1e999)", "non-finite number"),
    ("cd(folder=-1e999)", "non-finite number"),
    ("cd(folder=0x" + "f" * 5_000 + ")", "integer too long"),
    ("cd(folder=[1, [2, {'x': {b'deep'}}]])", "a set"),
]


@pytest.mark.parametrize("text, problem", NOT_JSON)
def test_only_json_values_are_call_arguments(text: str, problem: str | None) -> None:
    assert parse_python_call(text) is None  # the environment never receives such a value
    calls = as_tool_calls(text)
    if problem is None:
        assert calls is None
        return
    assert calls is not None and len(calls) == 1 and calls[0].name == "cd"
    assert list(calls[0].arguments) == [UNREADABLE_ARGUMENTS] and problem in calls[0].arguments[UNREADABLE_ARGUMENTS]
    action = read_answer(text)
    assert action.kind == INVALID and "not JSON values" in action.why and problem in action.why
    assert parse_action(text) == ""  # the build's reader: no action
    json.dumps(action.to_json())  # every reader can render what it got


@pytest.mark.parametrize("value", ["a", 1, -2.5, True, None, [1, (2, "x")], {"k": {"j": [None]}}, 10**4000])
def test_json_values_pass_the_check(value) -> None:
    assert not_json(value) is None
    json.dumps(value)


def test_replies_with_brackets_stay_replies() -> None:
    for text in ("Done (all files moved).", "Moved report.txt (2 KB) to archive", "Sure: see the list (above)",
                 # a review of the first rule (a name, "(", and ")" at the end): these were invalid
                 "Item(s) moved to the archive folder (3 in total)", "Error(404): the file was not found (check it)",
                 "ls() shows the directory is empty (no files found)", "get_weather(city='Paris') returned 18 (sunny)",
                 "mean(4, 5, 6) = 5.0 (rounded)", "Done(all files moved)", "Booking(confirmed) (ID 3426812)",
                 "Summary(final):\nYour order has been cancelled (order #123)"):
        assert read_answer(text).kind == "reply", text
    for text in ("cd(folder=x).", "cd(folder='x') ls()", "```python\ncd(folder=x)\n```"):
        assert read_answer(text).kind == INVALID, text


def test_json_literal_calls_are_unchanged() -> None:
    """Tuples are JSON arrays (BFCL's gold calls hold some) and stay tuples for the environment."""
    call = parse_python_call("f(x=(1, 2), y={'a': [True, None]}, z=-3.5)")
    assert call is not None and call.kwargs == {"x": (1, 2), "y": {"a": [True, None]}, "z": -3.5}
    assert read_answer("f(x=(1, 2))").kind == "call"


def test_a_policy_build_with_calls_json_cannot_hold_finishes_and_counts_them(tmp_path: Path) -> None:
    """Found in review: the build parsed these answers as calls and crashed writing its files
    after all its work; the rerun replayed the cached answers into the same crash."""
    answers = [text for text, problem in NOT_JSON if problem]
    calls: list[str] = []

    def answer(prompt: str) -> str:
        calls.append(prompt)
        return answers[(len(calls) - 1) % len(answers)]

    models = Models(policy=_policy(answer), sampling=("policy",))
    limit = len(answers)
    first = build(["bfcl"], tmp_path, models=models, limit=limit)["bfcl"]
    tested = len(first["splits"]["test"]["clusters"])  # the policy answers the test split only
    assert len(calls) == tested >= 1
    again = build(["bfcl"], tmp_path, models=models, limit=limit)["bfcl"]  # from the call cache
    assert len(calls) == tested and again["files"] == first["files"]
    records = json.loads((tmp_path / "prmbench_rebuilt_bfcl.json").read_text())
    failures = [f for f in json.loads((tmp_path / "check_failures_bfcl.json").read_text()) if f["sampling"] == "policy"]
    assert records == [] and len(failures) == tested  # no action is never a case: each is counted
    # each failure says where it was, as the rule-made ones do (an answer that is no action lacked its split)
    assert all(set(f) == {"source_id", "step_index", "split", "sampling", "reasons"} and f["split"] == "test"
               for f in failures)
    assert all(f["sampling"] == "policy" and f["reasons"][0].startswith("policy answer is no action: call "
                                                                        "arguments are not JSON values")
               for f in failures)


# An adversarial probe (2026-12-07): answers that were guessed into an action or crashed a build.


@pytest.mark.parametrize("text, why", [
    ('{"name": "cd", "parameters": {"folder": 1e999}}', "not one tool call"),  # was a call holding inf
    ('{"name": "f", "name": "delete_all"}', "not one tool call"),  # a key twice: was `delete_all`
    ('{"name": "f", "parameters": {"a": 1}, "arguments": {"a": 2}}', "not JSON values"),  # two argument sets
    ('cd(folder="a", folder="b")', "given twice"),  # Python refuses it; ast.parse did not (was folder='b')
    ("<think>a</think><think>I will call cd", "reasoning not closed"),  # was a reply
    (b"f()", "not text"), (5, "not text"), ({"name": "f"}, "not text"),  # were TypeError/AttributeError
    # a lone surrogate (JSON's escape decodes to one): chosen in a search, the next prompt and the
    # log could not be serialised and Inspect ended the whole run with no sample written
    ('{"name": "cd", "parameters": {"folder": "\\ud800"}}', "not valid Unicode"),
    ('{"name": "\\udfff", "parameters": {}}', "not valid Unicode"),
    ('cd(folder="\\ud800")', "not valid Unicode"),
    ("I moved it \ud800", "not valid Unicode"),
    # calls written as Python that are no call of literal values were replies, and matched a gold
    # reply (hostile-output probe); written as JSON the same mistakes were already invalid
    ("cd(folder='x'); ls()", "written as Python"), ("cd(folder=float('nan'))", "written as Python"),
    ("cd(folder=x)", "written as Python"), ("cd(**{'folder': 'x'})", "written as Python"),
    ("cd(folder=" + "1" * 5_000 + ")", "written as Python"), ("a.b.c.d.e.f.g.h.i.j()", "written as Python"),
])
def test_hostile_policy_answers_are_no_action(text, why: str) -> None:
    action = read_answer(text)
    assert action.kind == INVALID and why in action.why, action


def test_a_keyword_given_twice_is_no_call_for_the_environment() -> None:
    assert parse_python_call('cd(folder="a", folder="b")') is None
    assert parse_python_call('cd(folder="a")').kwargs == {"folder": "a"}


@pytest.mark.parametrize("text", [
    '{"first_wrong_step": 1, "corrected_action": {"name": "cd", "parameters": "folder=document"}}',  # crashed the build
    '{"first_wrong_step": 1, "corrected_action": {"name": "cd", "parameters": [1, 2]}}',
    '{"first_wrong_step": true, "corrected_action": {"name": "cd", "parameters": {}}}',  # true was step 1
    '{"first_wrong_step": 1, "first_wrong_step": 2, "corrected_action": "Ask."}',  # the last one won
    '{"first_wrong_step": 1, "corrected_action": {"name": "f", "parameters": {"a": 1}, "arguments": {"a": 2}}}',
    b'{"first_wrong_step": 1}',
    # a lone surrogate (review, 2026-12-07): it became an online case's right action and the build's
    # write raised UnicodeEncodeError
    '{"first_wrong_step": 0, "corrected_action": {"name": "cd", "parameters": {"folder": "doc\\ud800"}}}',
    '{"first_wrong_step": 0, "corrected_action": "Moved \\udfff."}',
])
def test_annotations_that_are_not_one_reading_are_counted_not_guessed(text) -> None:
    assert parse_annotation(text) is None


def test_an_annotation_keeps_arguments_written_under_either_name() -> None:
    for key in ("parameters", "arguments"):  # `arguments` was dropped: the call became f()
        text = json.dumps({"first_wrong_step": 2, "corrected_action": {"name": "f", key: {"a": 1}}})
        assert parse_annotation(text) == (2, {"name": "f", "parameters": {"a": 1}})
    assert parse_annotation('{"first_wrong_step": 2, "corrected_action": {"name": "f", "parameters": null}}') \
        == (2, {"name": "f", "parameters": {}})


@pytest.mark.parametrize("text, vote", [
    ("yes", "yes"), ("No", "no"), ("Yes.", "yes"), ("No, A repeats the call.", "no"),
    ("Yes, it is not worse in any way.", "yes"), ("<think>yes or no?</think>no", "no"),
    # a negation in the reasoning is no negation of the vote (review: these were unparsed)
    ("Answer: No. Action A is not strictly better.", "no"), ("Answer: yes. B does not check the balance.", "yes"),
    ("Action A doesn't fetch the id first, so the answer is: no", "no"), ("**Answer:** No - A never reads the file", "no"),
    # both named, or one behind a negation: unparsed (were the first word, or the one named)
    ("yes or no", "unparsed"), ("Yes/No", "unparsed"), ("No doubt, yes.", "yes"),
    ("I would not say yes", "unparsed"), ("The answer is not no", "unparsed"), ("It isn't better, so no", "no"), ("I'd not say yes", "unparsed"),
    ("<think>a</think><think>yes", "unparsed"), (b"yes", "unparsed"), (None, "unparsed"),
    # a "no" in the reasoning is no vote (hostile-output probe: these dropped good cases)
    ("No doubt A is better.", "unparsed"), ("A has no errors; B calls the wrong tool.", "unparsed"),
    ("There is no question: A is better.", "unparsed"), ("Absolutely, A is strictly better (no ambiguity).", "unparsed"),
    ("**Yes** - A reads the file first", "yes"), ("Verdict: no", "no"), ("B skips the login, so yes", "yes"),
    ("Yes?", "unparsed"), ("Probably yes?", "unparsed"),
    # and a vote stated in the forms judges use is read (a review of the first rule: unparsed)
    ("Yes because Action A reads the file first.", "yes"), ("No Action B is better", "no"),
    ("Is Action A strictly better than Action B? Yes. It passes the ID.", "yes"),
    ("I'd say yes, Action A is better.", "yes"), ("So, no, Action A is not strictly better.", "no"),
    ("Conclusion: Yes. A is better.", "yes"), ("Judgment: yes\nReason: A logs in first.", "yes"),
    ("The answer would be yes, since A checks the stock.", "yes"),
    ("Yes, A is better. B has no error handling.", "yes"),
    # a second review: a vote as a clause of its own, anywhere (these were unparsed)
    ("Action A is strictly better, yes, because it checks the balance first.", "yes"),
    ("In short, yes: Action A is strictly better.", "yes"), ("Ultimately, no. Both call the same tool.", "no"),
    ('{"is_better": "yes", "reason": "A logs in first"}', "yes"), ("**Strictly better:** Yes\n\n**Reason:** ...", "yes"),
    ("Yes. Action A retrieves the order first, so no extra call is needed.", "yes"),
    ("Action B is not valid, so yes.", "yes"),
    # 2026-12-07: a vote hedged, under a condition or taken back is no vote (each was read as one) ...
    ("Maybe yes.", "unparsed"), ("Most likely yes.", "unparsed"), ("Hard to say no.", "unparsed"),
    ("It depends. If the user is logged in, yes.", "unparsed"), ("yes if the file exists", "unparsed"),
    ("Yes, unless the user meant the other account.", "unparsed"),
    ("Yes. Wait, actually, I take that back.", "unparsed"), ("Yes. Actually, B is better.", "unparsed"),
    ("The answer is yes. Just kidding.", "unparsed"), ("No. On second thought, A is better.", "unparsed"),
    # ... while a reason that says "if", "likely" or "actually" leaves it one
    ("Yes, because if the file were missing, B would fail.", "yes"),
    ("Yes. If B ran first, the order would be placed twice.", "yes"),
    ("Yes, it is likely the user wants the refund, and A gives it.", "yes"),
    ("Yes. Actually, A is the only one that checks the balance.", "yes"),
    ("No. Actually, B is the better step here.", "no"),
])
def test_a_filtering_vote_is_read_only_where_it_is_unambiguous(text, vote: str) -> None:
    from toolprm_tasks.rebuild.judging import parse_vote

    assert parse_vote(text) == vote


def test_the_same_arguments_given_twice_in_two_forms_are_one_call() -> None:
    same = {"name": "f", "parameters": {"a": 1}, "arguments": json.dumps({"a": 1})}  # OpenAI's string form
    assert as_tool_calls(same)[0].arguments == {"a": 1}
    differing = {"name": "f", "parameters": {"a": 1}, "arguments": json.dumps({"a": 2})}
    assert UNREADABLE_ARGUMENTS in as_tool_calls(differing)[0].arguments


def test_a_long_run_of_votes_is_read() -> None:
    """Each stated vote looked back over the whole answer for a negation: 50,000 `, yes` took
    over two minutes (a read-through); the look-back is the vote's clause, bounded."""
    from toolprm_tasks.rebuild.judging import parse_vote

    assert parse_vote(", yes" * 50_000) == "yes" and parse_vote("answer yes " * 50_000) == "yes"
    assert parse_vote(", yes" * 1_000 + ". I would not say yes") == "unparsed"  # a negation in reach still counts
    # the retraction rule first ran one pattern from every sentence end to the answer's end:
    # "yes" and 80,000 "!" took 250 s; it reads sentence by sentence now
    assert parse_vote("yes" + "!" * 200_000) == "yes" and parse_vote("Yes" + " ." * 100_000) == "yes"
