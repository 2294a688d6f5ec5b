"""Baseline judges and the safe tool-call reader behind `schema`."""

from __future__ import annotations

import pytest

from tests.fixture_data import BFCL_FUNCTIONS, RECORDS, SCHEMA_VERDICT
from toolprm_tasks.core.baselines import candidate_scores, generative_pick
from toolprm_tasks.core.cases import cases_from_records
from toolprm_tasks.core.render import render_action
from toolprm_tasks.core.tool_calls import as_tool_calls, violations
from toolprm_tasks.core.trials import build_trials


def _all_cases():
    return [c for s, make in RECORDS.items() for c in cases_from_records(make(), subset=s, source=s)]


def test_schema_verdicts_match_the_hand_derived_ones() -> None:
    for case in _all_cases():
        trial = build_trials([case], order="chosen_first")[0]
        s_chosen, s_rejected = candidate_scores("schema", trial.judge_view())
        verdict = "chosen" if s_chosen > s_rejected else "rejected" if s_chosen < s_rejected else "tie"
        assert verdict == SCHEMA_VERDICT[case.id], case.id


@pytest.mark.parametrize("action, count", [
    ({"name": "cd", "parameters": {"folder": "a"}}, 0),
    ({"name": "cd", "parameters": {"folder": 3}}, 1),  # type
    ({"name": "cd", "parameters": {}}, 1),  # required
    ({"name": "cd", "parameters": {"folder": "a", "x": 1}}, 1),  # unknown parameter
    ({"name": "rm", "parameters": {"folder": "a"}}, 1),  # unknown tool
    ({"name": "sort", "parameters": {"file_name": "f", "order": "up"}}, 1),  # enum
    ("sort(file_name='f', order='asc')", 0),
    ("[cd(folder='a'), mkdir(dir_name=5)]", 1),
    ('{"name": "mean", "arguments": "{\\"numbers\\": [1.5]}"}', 0),
    ("Just a chat reply.", 0),
])
def test_violations(action, count: int) -> None:
    assert violations(action, BFCL_FUNCTIONS) == count


@pytest.mark.parametrize("parameters, count", [
    ({"type": "dict", "properties": [1, 2], "required": "folder"}, 1),  # "folder" unknown: no properties
    ({"type": "dict", "properties": "abc", "required": 5}, 1),
    ({"type": "dict", "properties": {"folder": {"type": "string"}}, "required": [[1], "folder", 3]}, 0),
    ({"type": "dict", "properties": {"folder": {"type": "string"}}, "required": "folder"}, 0),
    ([1, 2], 1),  # parameters not an object: nothing known of them
])
def test_a_malformed_spec_counts_what_it_states_and_never_raises(parameters, count: int) -> None:
    """Found by a probe: properties a list, required a number or a list holding a list raised
    (AttributeError, TypeError, unhashable) in `shortcuts`, `audit`, Inspect and lm-eval; required
    a string was iterated ("folder": six one-letter parameters missing). A bare string is no list of
    names: nothing is required; a property list is no object: every argument is unknown."""
    functions = [{"name": "cd", "description": "change folder", "parameters": parameters}]
    assert violations({"name": "cd", "parameters": {"folder": "a"}}, functions) == count


def test_call_strings_are_parsed_never_evaluated(tmp_path) -> None:
    marker = tmp_path / "pwned"
    for text in (f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')",
                 "cd(folder=__import__('os').getcwd())", "cd(**{'folder': 'a'})"):
        calls = as_tool_calls(text)
        assert calls is None or all(c.name in ("open",) for c in calls)
    assert not marker.exists()
    assert as_tool_calls("cd(folder=__import__('os').getcwd())") is None  # non-literal argument


def test_random_is_seeded_and_first_is_first() -> None:
    views = [t.judge_view() for t in build_trials(_all_cases(), order="both")]
    picks = [generative_pick("random", v, seed=5) for v in views]
    assert picks == [generative_pick("random", v, seed=5) for v in views]
    assert picks != [generative_pick("random", v, seed=6) for v in views]
    assert {generative_pick("first", v) for v in views} == {1}


def test_longer_prefers_the_longer_rendering() -> None:
    case = _all_cases()[0]
    view = build_trials([case], order="chosen_first")[0].judge_view()
    assert candidate_scores("longer", view) == (len(render_action(case.chosen)), len(render_action(case.rejected)))


def test_lm_eval_baseline_needs_a_judge_and_names_the_choices() -> None:
    """Found by a newcomer: `--model toolprm-baseline` with no judge silently ran `random`."""
    from tests.helpers import evaluate
    from toolprm_tasks.engines.factory import OptionError

    expected = "toolprm-baseline needs a judge: --model_args judge=NAME, NAME one of random, first, longer, schema"
    for model_args in ("", "seed=3"):
        with pytest.raises(OptionError, match=expected):
            evaluate("toolprm-baseline", ["toolprmbench_gta"], model_args=model_args)
    with pytest.raises(OptionError, match="toolprm-baseline: option judge must be one of random, first, longer, "
                                          "schema, grounding, got 'best'"):
        evaluate("toolprm-baseline", ["toolprmbench_gta"], model_args="judge=best")
    with pytest.raises(OptionError, match="toolprm-baseline: unknown option\\(s\\) jugde; known: judge, seed"):
        evaluate("toolprm-baseline", ["toolprmbench_gta"], model_args="jugde=first")  # was swallowed: random
    with pytest.raises(OptionError, match="toolprm-baseline: option seed must be a whole number, got 'abc'"):
        evaluate("toolprm-baseline", ["toolprmbench_gta"], model_args="judge=first,seed=abc")


@pytest.mark.parametrize("name, args, message", [
    ("toolprm-baseline/", {}, "toolprm-baseline/NAME: NAME is the judge, one of random, first, longer, schema, "
                              "grounding; got ''"),
    ("toolprm-baseline/best", {}, "NAME is the judge, one of random, first, longer, schema, grounding; got 'best'"),
    ("toolprm-baseline/random", {"seed": "abc"}, "toolprm-baseline/random: option seed must be a whole number"),
    ("toolprm-baseline/random", {"sede": 1}, "toolprm-baseline/random: unknown option\\(s\\) sede; known: seed"),
    ("toolprm-replay/0", {}, "toolprm-replay/K: K must be a whole number >= 1, got '0'"),
    ("toolprm-replay/two", {}, "toolprm-replay/K: K must be a whole number >= 1, got 'two'"),
    ("toolprm-replay/2", {"order": "best"}, "toolprm-replay/2: option order must be one of seeded, gold_first"),
    ("toolprm-replay/2", {"seed": 1.5}, "toolprm-replay/2: option seed must be a whole number, got 1.5"),
])
def test_inspect_providers_check_their_options(name: str, args: dict, message: str) -> None:
    """Inspect needs `toolprm-baseline/NAME` (a bare `toolprm-baseline` is Inspect's own error:
    "should be in the format of <api_name>/<model_name>"); -M options go through the one check."""
    from inspect_ai.model import get_model

    from toolprm_tasks.engines.factory import OptionError

    with pytest.raises(OptionError, match=message):
        get_model(name, memoize=False, **args)
    with pytest.raises(ValueError, match="format of <api_name>/<model_name>"):
        get_model("toolprm-baseline", memoize=False)


GROUNDING_HISTORY = [
    {"role": "user", "content": "Move 'report.pdf' to the archive folder, then tell me the size."},
    {"role": "assistant", "content": {"name": "ls", "parameters": {}}},
    {"role": "tool", "content": '{"files": ["report.pdf", "notes.txt"], "count": 2}'},
]


@pytest.mark.parametrize("action, expected", [
    # values report.pdf and archive both in the history; "mv" has no content word (under 3 letters)
    ({"name": "mv", "parameters": {"source": "report.pdf", "destination": "archive"}}, 1.0),
    # notes.txt is in the listing, backup nowhere
    ({"name": "mv", "parameters": {"source": "notes.txt", "destination": "backup"}}, 0.5),
    # words moved (no: "move" only), report, pdf, files (yes) and the number 2 (yes): 4 of 5
    ("I moved report.pdf; there are 2 files.", 0.8),
    # name words copy, file ("files" is another word) and the value 3: none
    ({"name": "copy_file", "parameters": {"n": 3}}, 0.0),
    # 2.0 is the history's 2; a flag is no value: 1 of 1
    ({"name": "ls", "parameters": {"a": True, "count": 2.0}}, 1.0),
    ({"name": "ls", "parameters": {}}, 0.0),  # no units at all
    ("mv(source='report.pdf', destination='temp')", 0.5),  # a call string is read as a call
])
def test_grounding_scores_match_the_hand_derived_ones(action, expected) -> None:
    from toolprm_tasks.core.grounding import grounding_score

    assert grounding_score(action, GROUNDING_HISTORY) == pytest.approx(expected)


def test_grounding_judge_in_both_orders() -> None:
    from toolprm_tasks.core.trials import JudgeView

    right = {"name": "mv", "parameters": {"source": "report.pdf", "destination": "archive"}}
    wrong = {"name": "mv", "parameters": {"source": "notes.txt", "destination": "backup"}}
    first = JudgeView("t/a", None, GROUNDING_HISTORY, (right, wrong))
    second = JudgeView("t/b", None, GROUNDING_HISTORY, (wrong, right))
    assert candidate_scores("grounding", first) == (1.0, 0.5) and generative_pick("grounding", first) == 1
    assert candidate_scores("grounding", second) == (0.5, 1.0) and generative_pick("grounding", second) == 2
    tie = JudgeView("t/c", None, GROUNDING_HISTORY, (wrong, wrong))
    assert generative_pick("grounding", tie) == 1  # a tie names the first, as every generative pick does


def test_grounding_never_fails_on_hostile_candidates() -> None:
    from toolprm_tasks.core.grounding import grounding_score

    for action in ("", "x" * 200_000, {"name": None}, {"name": "a", "parameters": {"v": float("nan")}}, [1, [2]], None,
                   "((((" * 1000, {"function": {"name": "mv", "arguments": "{not json"}}):
        score = grounding_score(action, GROUNDING_HISTORY)
        assert 0.0 <= score <= 1.0
