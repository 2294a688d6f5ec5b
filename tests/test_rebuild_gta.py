"""The GTA builder on a fixture in GTA's own format (GTA is not on PyPI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gta_fixture import write_gta
from toolprm_tasks.core.cases import cases_from_records
from toolprm_tasks.core.tool_calls import violations
from toolprm_tasks.rebuild.build import build
from toolprm_tasks.rebuild.errors import SourceError
from toolprm_tasks.rebuild.gta import decision_points, load_queries


def test_gta_points_follow_the_dialog(tmp_path: Path) -> None:
    dataset = write_gta(tmp_path)
    toolmeta = json.loads((tmp_path / "toolmeta.json").read_text())
    points = decision_points(load_queries(dataset)[0], toolmeta)
    assert [p.gold if p.is_chat else p.gold["name"] for p in points] == ["OCR", "Calculator", "The total is 5.60."]
    assert points[1].gold["parameters"] == {"expression": "2.50+3.10"}  # JSON-string arguments parsed
    assert points[0].history[0]["role"] == "system" and "OCR: Recognize text" in points[0].history[0]["content"]
    assert "image/receipt.jpg" in points[0].history[0]["content"]
    assert points[0].functions[0]["parameters"]["required"] == ["image"]


def test_gta_build_writes_release_format_cases(tmp_path: Path) -> None:
    dataset = write_gta(tmp_path / "gta")
    manifest = build(["gta"], tmp_path / "out", seed=0, gta_dataset=dataset)["gta"]
    records = json.loads((tmp_path / "out" / "prmbench_rebuilt_gta.json").read_text())
    train = json.loads((tmp_path / "out" / "prmbench_rebuilt_gta_train.json").read_text())
    # three queries, whole queries split: round(3 / 4) = 1 to the training split
    assert manifest["cases"] == len(records) == 2 and manifest["splits"]["train"]["cases"] == len(train) == 1
    assert not {r["task"] for r in records} & {r["task"] for r in train}
    records = records + train
    cases = cases_from_records(records, subset="gta", source="prmbench_rebuilt_gta.json")
    for case, record in zip(cases, records, strict=True):
        assert case.chosen != case.rejected
        assert record["execution_check"] == {"applicable": False,
                                             "reason": "no executable environment (recorded observations)"}
        if isinstance(case.rejected, dict):
            assert violations(case.rejected, case.functions) == 0
    again = build(["gta"], tmp_path / "again", seed=0, gta_dataset=dataset)["gta"]
    assert again["fingerprint"] == manifest["fingerprint"]


def test_gta_without_toolmeta_and_malformed(tmp_path: Path) -> None:
    dataset = write_gta(tmp_path, with_toolmeta=False)
    points = decision_points(load_queries(dataset)[0], None)
    assert "parameters" not in points[0].functions[0]
    bad = json.loads(dataset.read_text())
    bad["1"]["dialogs"][1]["role"] = "robot"
    dataset.write_text(json.dumps(bad))
    with pytest.raises(SourceError, match=r"dataset.json: record 1: field 'dialogs\[1\].role'"):
        load_queries(dataset)
