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


# ------------------------------------------------------------------ hostile copies of GTA's files
# Found by a probe: each of these was a raw traceback from `toolprmbench build` (UnicodeDecodeError,
# RecursionError, AttributeError, TypeError), or NaN was written into a build its own loader refused,
# or a query or a tool vanished in silence.

def _mutated(tmp_path: Path, change, toolmeta=None) -> Path:
    from tests.gta_fixture import DATASET, TOOLMETA

    data = json.loads(json.dumps(DATASET))
    text = change(data)
    path = tmp_path / "dataset.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text if isinstance(text, str) else json.dumps(data), encoding="utf-8")
    meta = toolmeta if toolmeta is not None else json.dumps(TOOLMETA)
    (tmp_path / "toolmeta.json").write_bytes(meta if isinstance(meta, bytes) else meta.encode())
    return path


def _set(path: str, value):
    def change(data):
        *keys, last = path.split("/")
        target = data
        for key in keys:
            target = target[int(key) if isinstance(target, list) else key]
        target[int(last) if isinstance(target, list) else last] = value
    return change


@pytest.mark.parametrize("change, says", [
    (lambda d: json.dumps(d).encode().replace(b"receipt", b"rec\xffipt"), "not UTF-8"),
    (lambda d: "[" * 200_000, "deeper than the JSON parser can read"),
    (lambda d: json.dumps(d).replace('"5.6"', "1" * 5000), "an integer with 5000 digits"),
    (lambda d: json.dumps(d).replace('"whitelist"', '"x": NaN, "whitelist"'), "non-standard JSON constant NaN"),
    (lambda d: '{"0": ' + json.dumps(d["0"]) + ', "0": ' + json.dumps(d["1"]) + "}", "the key '0' appears twice"),
    (lambda d: "{}", "holds no query"),
    (_set("0/files/0/path", 5), "record 0: field 'files[0].path'"),
    (_set("0/files", "image/receipt.jpg"), "record 0: field 'files'"),
    (_set("0/tools/1", {"name": 5}), "record 0: field 'tools[1].name'"),
    (_set("0/tools/1", "Calculator"), "record 0: field 'tools[1].name'"),
    (_set("0/dialogs/1/tool_calls/0/function", "OCR"), "record 0: field 'dialogs[1].tool_calls[0].function'"),
    (_set("0/dialogs/1/tool_calls/0/function/name", None), "field 'dialogs[1].tool_calls[0].function.name'"),
    (_set("0/dialogs/1/tool_calls", "OCR"), "record 0: field 'dialogs[1].tool_calls'"),
    (_set("0/dialogs/1/tool_calls/0", 5), "field 'dialogs[1].tool_calls[0].function'"),
    (_set("0/dialogs/3/tool_calls/0/function/arguments", '{"a": NaN}'),
     "field 'dialogs[3].tool_calls[0].function.arguments': a string that is not a JSON object"),
    (_set("0/dialogs/3/tool_calls/0/function/arguments", "[" * 100_000), "(nested too deep)"),
    (_set("0/dialogs/3/tool_calls/0/function/arguments", "{bad"), "a string that is not a JSON object"),
    (_set("0/dialogs/3/tool_calls/0/function/arguments", None), "expected an object, or a JSON string of one"),
    (_set("0/dialogs/0/content", ["a"]), "record 0: field 'dialogs[0].content'"),
    # found in review: infinity (1e999) was written as Infinity, a lone surrogate a UnicodeEncodeError
    (lambda d: json.dumps(d).replace('"image/receipt.jpg"}', "1e999}", 1),
     "record 0: field 'files[0].path': a number out of range"),
    (_set("0/dialogs/3/tool_calls/0/function/arguments", '{"expression": 1e999}'),
     "a number out of range (it reads as infinity, which JSON cannot hold) at expression"),
    (lambda d: json.dumps(d).replace("What is the total", "\\ud800 total", 1),
     "record 0: field 'dialogs[0].content': text that is not valid Unicode"),
    (_set("0/dialogs/5/content", 5.6), "record 0: field 'dialogs[5].content'"),
])
def test_a_malformed_dataset_is_one_named_error(tmp_path: Path, change, says: str) -> None:
    dataset = _mutated(tmp_path, change)
    with pytest.raises(SourceError, match=None) as info:
        build(["gta"], tmp_path / "out", seed=0, gta_dataset=dataset)
    assert says in str(info.value) and str(dataset) in str(info.value), str(info.value)[:500]
    assert not (tmp_path / "out" / "prmbench_rebuilt_gta.json").exists()


@pytest.mark.parametrize("toolmeta, says", [
    (b'{"OCR": ', "toolmeta.json: line 1 column 9: not valid JSON"),
    (b'{"OCR": {"description": NaN}}', "non-standard JSON constant NaN"),
    (b"\xff{}", "not UTF-8"),
    (b"[1, 2]", "toolmeta.json: expected an object keyed by tool name"),
    (b'{"OCR": "a string"}', "record 'OCR': field '<tool>'"),
    (b'{"OCR": {"inputs": "image"}}', "record 'OCR': field 'inputs'"),
    (b'{"OCR": {"inputs": [{"name": "image", "type": 5}]}}', "record 'OCR': field 'inputs[0].type'"),
    (b'{"OCR": {"description": "\\ud800"}}', "record 'OCR': field 'OCR.description': text that is not valid"),
])
def test_a_malformed_toolmeta_is_one_named_error(tmp_path: Path, toolmeta: bytes, says: str) -> None:
    dataset = _mutated(tmp_path, lambda d: None, toolmeta)
    with pytest.raises(SourceError) as info:
        build(["gta"], tmp_path / "out", seed=0, gta_dataset=dataset)
    assert says in str(info.value), str(info.value)


def test_a_toolmeta_that_is_no_file_is_refused_not_skipped(tmp_path: Path) -> None:
    """A folder or a link leading nowhere named toolmeta.json was read as 'no toolmeta' in silence."""
    dataset = write_gta(tmp_path, with_toolmeta=False)
    (tmp_path / "toolmeta.json").mkdir()
    with pytest.raises(SourceError, match="toolmeta.json: not a readable file"):
        build(["gta"], tmp_path / "out", seed=0, gta_dataset=dataset)
    (tmp_path / "toolmeta.json").rmdir()
    (tmp_path / "toolmeta.json").symlink_to(tmp_path / "toolmeta.json")  # a loop
    with pytest.raises(SourceError, match="toolmeta.json: not a readable file"):
        build(["gta"], tmp_path / "out", seed=0, gta_dataset=dataset)


def test_a_query_without_a_call_is_counted_and_toolmeta_is_in_the_version(tmp_path: Path) -> None:
    from tests.gta_fixture import DATASET, TOOLMETA

    data = json.loads(json.dumps(DATASET))
    data["3"] = {"tools": [{"name": "OCR"}], "dialogs": [{"role": "user", "content": "Hello?"},
                                                         {"role": "assistant", "content": "Hi."}]}
    (tmp_path / "dataset.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "toolmeta.json").write_text(json.dumps(TOOLMETA), encoding="utf-8")
    manifest = build(["gta"], tmp_path / "out", seed=0, gta_dataset=tmp_path / "dataset.json")["gta"]
    failures = json.loads((tmp_path / "out" / "check_failures_gta.json").read_text())
    assert [(f["source_id"], f["step_index"]) for f in failures] == [("3", None)]
    assert "no tool call" in failures[0]["reasons"][0] and failures[0]["split"] in ("test", "train")
    assert manifest["cases"] + manifest["splits"]["train"]["cases"] == 3  # the three with a call
    version = manifest["source_version"]
    (tmp_path / "toolmeta.json").write_text(json.dumps({**TOOLMETA, "OCR": {"description": "other"}}), encoding="utf-8")
    other = build(["gta"], tmp_path / "out2", seed=0, gta_dataset=tmp_path / "dataset.json")["gta"]["source_version"]
    assert version.startswith("gta:") and "+toolmeta:" in version and other != version
    assert other.split("+")[0] == version.split("+")[0]  # the same dataset.json


def test_a_one_query_build_validates(tmp_path: Path, capsys) -> None:
    """One query: round(0.25 * 1) = 0 go to the training split, whose file is an empty list, as
    its manifest says; `validate` failed the build for it ("no records")."""
    from tests.gta_fixture import DATASET, TOOLMETA
    from toolprm_tasks.cli import main as cli_main

    (tmp_path / "dataset.json").write_text(json.dumps({"0": DATASET["0"]}), encoding="utf-8")
    (tmp_path / "toolmeta.json").write_text(json.dumps(TOOLMETA), encoding="utf-8")
    manifest = build(["gta"], tmp_path / "out", seed=0, gta_dataset=tmp_path / "dataset.json")["gta"]
    assert manifest["cases"] == 1 and manifest["splits"]["train"]["cases"] == 0
    capsys.readouterr()
    assert cli_main(["validate", str(tmp_path / "out")]) == 0, capsys.readouterr()
    capsys.readouterr()
    (tmp_path / "out" / "prmbench_rebuilt_gta.json").write_text("[]\n", encoding="utf-8")  # its manifest says 1
    assert cli_main(["validate", str(tmp_path / "out")]) == 1
    assert "prmbench_rebuilt_gta.json: no records" in capsys.readouterr().out  # a test file: never empty


def test_every_missing_source_package_is_named_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh install named bfcl-eval, then (installed) nvidia-tooltalk: one try per package."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("bfcl_eval", "tooltalk") else real_find_spec(name, *a))
    with pytest.raises(SourceError) as info:
        build(["bfcl", "tooltalk"], tmp_path / "out", seed=0)
    message = str(info.value)
    assert "bfcl-eval is not installed" in message and "nvidia-tooltalk is not installed" in message
    assert not (tmp_path / "out").exists()
