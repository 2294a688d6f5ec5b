"""Record validation, normalisation and rendering."""

from __future__ import annotations

import json

import pytest

from tests.fixture_data import RECORDS
from toolprm_tasks.cases import RecordError, case_from_record, cases_from_records, error_type_slug
from toolprm_tasks.prompts import STANDARD_PROMPT
from toolprm_tasks.render import render_action, render_functions, render_history
from toolprm_tasks.trials import build_trials


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
    ("hallucination", "other"), (None, "unlabeled"), ("", "unlabeled"),
])
def test_error_type_slugs(raw: str | None, slug: str) -> None:
    assert error_type_slug(raw) == slug


@pytest.mark.parametrize("mutate, field, problem", [
    (lambda r: r.pop("history"), "history", "expected a list"),
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
