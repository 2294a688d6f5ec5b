"""Bad input to `toolprmbench audit` and the blind reading: a clear error naming the file, the
line or item and the field, or a failed audit; never a traceback, a silent drop or a score
against the wrong key. Each case is one an adversarial probe (2026-12-07) found."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.test_audit import _records
from toolprm_tasks import reading
from toolprm_tasks.cli import main as cli_main


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A build-like folder: one source's records and a manifest recording their digest."""
    out = tmp_path / "build"
    out.mkdir()
    data = json.dumps(_records(planted=False, cases=80)).encode()
    (out / "prmbench_rebuilt_tooltalk.json").write_bytes(data)
    (out / "manifest_tooltalk.json").write_text(json.dumps(
        {"fingerprint": "f" * 16, "files": {"prmbench_rebuilt_tooltalk.json": hashlib.sha256(data).hexdigest()}}))
    return out


@pytest.fixture
def packet(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "packet"
    assert cli_main(["audit", str(folder), "--packet", str(out), "--per-type", "2"]) == 0
    capsys.readouterr()
    return out


def _answers(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_invalid_records_fail_a_strict_audit_however_few_the_cases(tmp_path: Path, capsys) -> None:
    (tmp_path / "prmbench_rebuilt_tooltalk.json").write_text(json.dumps(_records(False, cases=3) + [{"history": "x"}] * 5))
    assert cli_main(["audit", str(tmp_path), "--strict"]) == 1  # was 0: "too few cases" hid the invalid ones
    assert "5 record(s) do not validate" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [("[]", "no records (an empty list)"), ("{}", "got dict")])
def test_a_file_without_records_is_an_error_naming_it(tmp_path: Path, capsys, content: str, message: str) -> None:
    (tmp_path / "prmbench_rebuilt_bfcl.json").write_text(content)
    assert cli_main(["audit", str(tmp_path), "--strict"]) == 2  # was "0 cases ... NOT JUDGED", exit 0
    err = capsys.readouterr().err
    assert "prmbench_rebuilt_bfcl.json" in err and message in err


def test_a_file_changed_since_its_build_fails_the_audit(folder: Path, capsys) -> None:
    path = folder / "prmbench_rebuilt_tooltalk.json"
    assert cli_main(["audit", str(folder), "--strict"]) == 0
    capsys.readouterr()
    path.write_text(json.dumps(json.loads(path.read_text()) + _records(False, cases=2, seed=5)))
    assert cli_main(["audit", str(folder), "--strict"]) == 1  # was PASSED: the loaders refuse this file
    assert "differs from its manifest" in capsys.readouterr().out


@pytest.mark.parametrize("key, message", [
    ("{bad", "not valid JSON"),
    ("[1]", "field 'items'"),
    ('{"x": 1}', "field 'items'"),
    ('{"items": {"R01": {"source": "bfcl"}}}', "item 'R01': field 'chosen'"),
    ('{"items": {"R01": {"chosen": "Action3", "source": "b", "error_type": "e", "tier": "t"}}}', "field 'chosen'"),
])
def test_a_malformed_key_is_an_error_naming_it(packet: Path, tmp_path: Path, capsys, key: str, message: str) -> None:
    reading.key_path(packet).write_text(key)
    answers = _answers(tmp_path / "a.jsonl", [{"item": "R01", "choice": "Action1", "verdict": "clear"}])
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(answers)]) == 2  # were tracebacks
    err = capsys.readouterr().err
    assert "packet-key.json" in err and message in err, err


def test_a_key_of_another_packet_is_refused(folder: Path, packet: Path, tmp_path: Path, capsys) -> None:
    key = reading.key_path(packet).read_bytes()
    assert cli_main(["audit", str(folder), "--packet", str(packet), "--per-type", "2", "--packet-seed", "1"]) == 0
    reading.key_path(packet).write_bytes(key)  # the seed-0 key beside the seed-1 packet (an interrupted write)
    capsys.readouterr()
    answers = _answers(tmp_path / "a.jsonl", [{"item": "R01", "choice": "Action1", "verdict": "clear"}])
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(answers)]) == 2
    assert "'packet_sha256' does not match" in capsys.readouterr().err


def test_an_item_answered_twice_is_an_error_not_the_last_answer(packet: Path, tmp_path: Path, capsys) -> None:
    answers = _answers(tmp_path / "a.jsonl", [{"item": "R01", "choice": "Action1", "verdict": "clear"},
                                              {"item": "R02", "choice": "Action1", "verdict": "clear"},
                                              {"item": "R01", "choice": "Action2", "verdict": "clear"}])
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(answers)]) == 2
    err = capsys.readouterr().err
    assert "a.jsonl: line 3: field 'item': 'R01' is answered twice (also on line 1)" in err


@pytest.mark.parametrize("row, message", [
    ({"item": "R01", "choice": "Action1", "verdict": "clr"}, "line 1: field 'verdict': 'clr' is not one of clear"),
    ({"item": "R01", "choice": "Action 3", "verdict": "clear"}, "line 1: field 'choice': 'Action 3' is not one of"),
])
def test_a_misspelled_answer_is_an_error_not_a_missing_one(packet: Path, tmp_path: Path, capsys, row, message) -> None:
    """"clr" was read as no verdict and the score said "clear 0.0%" (a documentation probe)."""
    answers = _answers(tmp_path / "a.jsonl", [row])
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(answers)]) == 2
    assert message in capsys.readouterr().err


def test_unanswered_fields_are_null_and_allowed(packet: Path, tmp_path: Path) -> None:
    answers = _answers(tmp_path / "a.jsonl", [{"item": "R01", "choice": None, "verdict": None},
                                              {"item": "R02", "choice": "Action1 or Action2", "verdict": "ambiguous"}])
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(answers)]) == 0  # a hedge is a miss


@pytest.mark.parametrize("content, message", [
    (b'{"item": "R01", "note": "\xff"}\n', "a.jsonl"),  # was a bare UnicodeDecodeError message
    (b'{"item": "R01", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "a.jsonl"),  # was a RecursionError traceback
    (b'{"item": "R01", "x": NaN}\n', "a.jsonl"),
])
def test_unreadable_answers_are_an_error_naming_the_file(packet: Path, tmp_path: Path, capsys, content: bytes,
                                                         message: str) -> None:
    (tmp_path / "a.jsonl").write_bytes(content)
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(tmp_path / "a.jsonl")]) == 2
    assert message in capsys.readouterr().err


def test_a_line_separator_inside_a_string_is_text(packet: Path, tmp_path: Path) -> None:
    answers = _answers(tmp_path / "a.jsonl", [{"item": "R01", "choice": "Action1", "verdict": "clear",
                                               "note": "one\u2028two"}])
    text = answers.read_text(encoding="utf-8").replace("\\u2028", "\u2028")  # raw, as ensure_ascii=False writes it
    answers.write_text(text, encoding="utf-8")
    assert reading.load_answers(answers)["R01"]["note"] == "one\u2028two"  # was "line 1: not JSON"


def test_answers_to_items_outside_the_key_are_shown(packet: Path, tmp_path: Path, capsys) -> None:
    answers = _answers(tmp_path / "a.jsonl", [{"item": "ZZZ", "choice": "Action1", "verdict": "clear"}])
    assert cli_main(["audit", "--score-packet", str(packet), "--answers", str(answers)]) == 0
    assert "not in the key (not scored): ZZZ" in capsys.readouterr().out  # was in --json only


def test_empty_paths_are_refused_not_ignored(folder: Path, capsys) -> None:
    for option in ("--packet", "--score-packet"):
        assert cli_main(["audit", str(folder), option, ""]) == 2  # was the plain audit, exit 0
        assert "an empty path" in capsys.readouterr().err
    assert cli_main(["audit", str(folder), "--answers", "x.jsonl"]) == 2
    assert "--answers goes with --score-packet" in capsys.readouterr().err


def test_the_key_of_a_packet_named_dot_lands_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert reading.key_path(Path(".")) == tmp_path / "here-key.json"  # was ./-key.json, inside the packet
    assert reading.reader_answers_path(Path(".")) == tmp_path / "here-answers-reader.jsonl"


def test_a_damaged_manifest_is_an_error_naming_it(folder: Path, tmp_path: Path, capsys) -> None:
    for content, message in (("{bad", "not valid JSON"), ("[1]", "expected a JSON object")):
        (folder / "manifest_tooltalk.json").write_text(content)
        assert cli_main(["audit", str(folder), "--packet", str(tmp_path / "p")]) == 2  # were tracebacks
        err = capsys.readouterr().err
        assert "manifest_tooltalk.json" in err and message in err, err


def test_a_reader_inspect_cannot_make_is_one_line_naming_the_option(packet: Path, capsys) -> None:
    """It was a ModelError traceback (exit 1) telling the user to run 'the same build' again."""
    assert cli_main(["audit", "--read-packet", str(packet), "--reader", "nosuchprovider/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("toolprmbench: --reader nosuchprovider/x: Inspect cannot make this model")
    assert "Traceback" not in err and err.count("\n") == 1
