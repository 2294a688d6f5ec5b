"""Record validation, normalisation and rendering."""

from __future__ import annotations

import json

import pytest

from tests.fixture_data import RECORDS
from toolprm_tasks.core.cases import RecordError, case_from_record, cases_from_records, check_records, error_type_slug
from toolprm_tasks.core.prompts import STANDARD_PROMPT
from toolprm_tasks.core.render import render_action, render_functions, render_history
from toolprm_tasks.core.trials import build_trials


def test_every_fixture_shape_normalises() -> None:
    cases = {s: cases_from_records(make(), subset=s, source=f"{s}.json") for s, make in RECORDS.items()}
    gta = cases["gta"][0]
    assert gta.functions is None and gta.history[0]["role"] == "system"  # tools in the system turn
    assert gta.cluster == "gta/gta-17" and gta.provenance["cluster_from"] == "task"
    assert cases["gta"][2].functions is None  # `functions` absent altogether
    assert isinstance(cases["bfcl"][4].chosen, str) and isinstance(cases["bfcl"][4].rejected, dict)
    assert cases["bfcl"][5].error_type == "unlabeled" and cases["bfcl"][5].error_type_raw is None
    assert cases["bfcl"][0].provenance["possible_answer"] == [["cd(folder='document')"]]
    assert isinstance(cases["toolsandbox"][0].functions, str)
    assert cases["toolsandbox"][0].provenance["milestones_0"] == ["sent"]
    # no sample_id/task in ToolSandbox: clustered by the user instruction
    assert cases["toolsandbox"][0].cluster.startswith("toolsandbox/instr-")


@pytest.mark.parametrize("raw, slug", [
    ("wrong tool", "wrong_tool"), ("Wrong Tool", "wrong_tool"), ("wrong_tool", "wrong_tool"),
    ("wrong params", "wrong_params"), ("wrong parameters", "wrong_params"),
    ("should chat but called a tool", "should_chat"), ("should call a tool but chatted", "should_call"),
    ("Should call tool but responded directly", "should_call"), ("should call a tool but replied", "should_call"),
    ("should respond but called a function", "should_chat"), ("should_chat", "should_chat"),
    ("hallucination", "other"), (None, "unlabeled"), ("", "unlabeled"),
])
def test_error_type_slugs(raw: str | None, slug: str) -> None:
    assert error_type_slug(raw) == slug


@pytest.mark.parametrize("mutate, field, problem", [
    (lambda r: r.pop("history"), "history", "missing"),
    (lambda r: r.update(history=None), "history", "expected a list of turns, got null"),
    (lambda r: r.__setitem__("history", []), "history", "is empty"),
    (lambda r: r["history"][0].__setitem__("role", 3), "history[0].role", "expected a string, got int"),
    (lambda r: r["history"][0].pop("content"), "history[0].content", "missing"),
    (lambda r: r.pop("action_chosen"), "action_chosen", "missing"),
    (lambda r: r.__setitem__("action_rejected", None), "action_rejected", "got null"),
    (lambda r: r.__setitem__("action_rejected", "  "), "action_rejected", "empty string"),
    (lambda r: r.__setitem__("functions", 5), "functions", "got int"),
    (lambda r: r.__setitem__("error type", ["x"]), "error type", "got list"),
])
def test_malformed_record_names_file_index_and_field(mutate, field: str, problem: str) -> None:
    records = RECORDS["bfcl"]()
    mutate(records[3])
    with pytest.raises(RecordError) as info:
        cases_from_records(records, subset="bfcl", source="prmbench_bfcl.json")
    message = str(info.value)
    assert message.startswith(f"prmbench_bfcl.json: record 3: field '{field}'")
    assert problem in message


def test_record_that_is_not_an_object() -> None:
    with pytest.raises(RecordError, match=r"x.json: record 0: field '<record>'"):
        case_from_record(["not", "a", "record"], subset="gta", index=0, source="x.json")


def test_rendering_is_deterministic_and_faithful() -> None:
    case = cases_from_records(RECORDS["gta"](), subset="gta", source="g.json")[2]
    assert render_action("plain text\nkept") == "plain text\nkept"
    assert render_action(case.chosen) == '{"name": "ImageDescription", "arguments": {"image": "image/1.png"}}'
    assert "à la française" in render_history(case.history)  # non-ASCII kept
    assert json.loads(render_history(case.history)) == case.history
    assert render_functions(None) == "null"
    trial = build_trials([case], order="chosen_first")[0]
    text = trial.pairwise_text("standard")
    assert text == trial.pairwise_text("standard")
    assert text == STANDARD_PROMPT.format(functions="null", history=render_history(case.history),
                                          action_1=render_action(case.chosen), action_2=render_action(case.rejected))
    assert text.startswith("Given the function descriptin, history")  # the paper's typos kept
    assert text.endswith('"chosen action": <"Action1" or "Action2"> }')


# ----------------------------------------------------------------------------- hardening (issue 8)

def test_an_empty_record_list_is_an_error() -> None:
    with pytest.raises(RecordError, match=r"^x.json: no records"):
        cases_from_records([], subset="gta", source="x.json")


def test_every_problem_of_a_record_is_listed() -> None:
    records = json.loads(json.dumps(RECORDS["bfcl"]()))  # records 0 and 1 share a turn object
    records[1]["history"][0]["role"] = 3
    del records[1]["action_chosen"]
    records[3]["functions"] = 5
    check = check_records(records, subset="bfcl", source="b.json")
    assert [str(e) for e in check.errors] == [
        "b.json: record 1: field 'history[0].role': expected a string, got int",
        "b.json: record 1: field 'action_chosen': missing",
        "b.json: record 3: field 'functions': expected a list, object, string or null, got int",
    ]
    with pytest.raises(RecordError, match=r"record 1: field 'history\[0\].role'.*2 more problems"):
        cases_from_records(records, subset="bfcl", source="b.json")


@pytest.mark.parametrize("chosen, rejected", [
    ({"name": "cd", "parameters": {"folder": "a"}}, '{"name": "cd", "parameters": {"folder": "a"}}'),  # own JSON string
    ({"name": "cd", "parameters": {"folder": "a", "x": 1}}, {"parameters": {"x": 1, "folder": "a"}, "name": "cd"}),
    ({"name": "cd", "parameters": {"folder": "a"}}, "cd(folder='a')"),  # the same call as BFCL writes it
    ({"name": "cd", "arguments": {"folder": "a"}}, {"name": "cd", "parameters": {"folder": "a"}}),
    ("Sure, done.", "  Sure,  done. "),
])
def test_identical_chosen_and_rejected_is_flagged(chosen, rejected) -> None:
    records = RECORDS["bfcl"]()
    records[2]["action_chosen"], records[2]["action_rejected"] = chosen, rejected
    check = check_records(records, subset="bfcl", source="b.json")
    assert not check.errors
    assert [w.index for w in check.warnings] == [2] and "identical" in str(check.warnings[0])


def test_different_actions_are_not_flagged() -> None:
    records = RECORDS["bfcl"]()
    records[2]["action_chosen"] = {"name": "cd", "parameters": {"folder": "a"}}
    records[2]["action_rejected"] = "cd(folder='b')"
    assert check_records(records, subset="bfcl", source="b.json").warnings == []
    # the fixture sets hold no identical, duplicate or contradictory records
    for subset, make in RECORDS.items():
        assert check_records(make(), subset=subset, source=subset).warnings == []


def test_duplicate_and_contradicting_records_are_flagged() -> None:
    records = RECORDS["tooltalk"]()
    records.append(json.loads(json.dumps(records[1])))  # 5: the same case again
    swapped = json.loads(json.dumps(records[3]))
    swapped["action_chosen"], swapped["action_rejected"] = swapped["action_rejected"], swapped["action_chosen"]
    records.append(swapped)  # 6: record 3 with the preference reversed
    warnings = {w.index: str(w) for w in check_records(records, subset="tooltalk", source="t.json").warnings}
    assert set(warnings) == {5, 6}
    assert "duplicate of record 1" in warnings[5]
    assert "record 3" in warnings[6] and "swapped" in warnings[6]
    assert len(cases_from_records(records, subset="tooltalk", source="t.json")) == 7  # warned, never dropped
