"""`toolprmbench`: wrong arguments and broken files are named errors of one message (no
traceback, refused before any work), every message says where and what to do, nothing from
data or arguments reaches the terminal as a control sequence, and the data defaults agree."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from toolprm_tasks import data, real_model
from toolprm_tasks.cli import build_parser
from toolprm_tasks.cli import main as cli_main

ESC = "\x1b]0;owned\x07\x1b[2J"  # an OSC title change, a bell and a screen clear


def _refused(capsys: pytest.CaptureFixture, *says: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("toolprmbench: ") and "Traceback" not in err, err
    for text in says:
        assert text in err, err
    return err


# ----------------------------------------------------------------------------- defaults


def _subcommand(name: str) -> argparse.ArgumentParser:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_every_command_with_data_defaults_to_the_rebuilt_set_and_says_so() -> None:
    """info, audit and demo: the rebuilt offline cases unless --data official; --help says so."""
    for name in ("info", "audit", "demo"):
        parser = _subcommand(name)
        assert parser.parse_args([]).data == "rebuilt", name
        data_help = next(a.help for a in parser._actions if "--data" in a.option_strings)
        assert "default" in data_help and "rebuilt" in data_help and "official" in data_help, name


# ----------------------------------------------------------------------------- build's models


@pytest.mark.parametrize("args, says", [
    (["--sampling", "policy", "--policy", "nope/model"], "build: --policy nope/model: Inspect cannot make this model"),
    (["--judges", "mockllm/model,nope/x"], "build: --judges nope/x: Inspect cannot make this model"),
    (["--audit-model", "bogus"], "build: --audit-model bogus: not a folder"),
])
def test_build_names_a_model_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                          says: str) -> None:
    out = tmp_path / "out"
    assert cli_main(["build", "--source", "tooltalk", *args, "--out", str(out)]) == 2
    err = _refused(capsys, says)
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before any work


def test_a_provider_error_is_one_plain_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Inspect's PrerequisiteError keeps console markup in its message: shown as plain text."""
    for key in ("OPENAI_API_KEY", "AZUREAI_OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    assert cli_main(["build", "--source", "tooltalk", "--sampling", "policy", "--policy", "openai/gpt-4o-mini",
                     "--out", str(tmp_path / "out")]) == 2
    err = _refused(capsys, "--policy openai/gpt-4o-mini: Inspect cannot make this model")
    assert "[bold]" not in err and "[/" not in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- wrong-shaped files


@pytest.mark.parametrize("manifest, says", [
    ([], "expected a JSON object"),
    ({"files": ["prmbench_rebuilt_bfcl.json"]}, "a `files` object"),
])
def test_a_wrong_shaped_build_manifest_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture, manifest: object, says: str) -> None:
    (tmp_path / "prmbench_rebuilt_bfcl.json").write_text("[]", encoding="utf-8")
    (tmp_path / "manifest_bfcl.json").write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(tmp_path))
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    assert cli_main(["info", "--subset", "bfcl"]) == 2
    _refused(capsys, f"{tmp_path / 'manifest_bfcl.json'}: not a build manifest", says,
             f"toolprmbench build --source bfcl --out {tmp_path}")


@pytest.mark.parametrize("manifest, says", [
    ([], "not a JSON object"),
    ({"source": "x", "files": {}}, "`source` and `files` must be objects"),
    ({"source": {}, "files": []}, "`source` and `files` must be objects"),
])
def test_a_wrong_shaped_model_manifest_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture, manifest: object, says: str) -> None:
    monkeypatch.setenv("TOOLPRMBENCH_MODEL_DIR", str(tmp_path))
    folder = real_model.model_path()
    folder.mkdir()
    (folder / real_model.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert cli_main(["model", "smollm2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("toolprmbench model: ") and "Traceback" not in err
    assert str(folder / real_model.MANIFEST) in err and says in err and "toolprmbench model smollm2" in err


def test_cache_and_data_folder_errors_name_the_path_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    monkeypatch.delenv("TOOLPRMBENCH_DATA_DIR", raising=False)
    a_file = tmp_path / "cache-is-a-file"
    a_file.write_text("mine", encoding="utf-8")
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(a_file))
    assert cli_main(["download", "--subset", "bfcl"]) == 2
    _refused(capsys, str(a_file), "set TOOLPRMBENCH_CACHE_DIR to")
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(tmp_path))
    assert cli_main(["info", "--data", "official", "--subset", "bfcl"]) == 2
    _refused(capsys, f"TOOLPRMBENCH_DATA_DIR={tmp_path} has no prmbench_bfcl.json", "put the release file there",
             "unset TOOLPRMBENCH_DATA_DIR")
    monkeypatch.setenv("TOOLPRMBENCH_DOWNLOAD_DEADLINE", "soon")
    monkeypatch.delenv("TOOLPRMBENCH_DATA_DIR")
    assert cli_main(["download", "--subset", "bfcl"]) == 2
    _refused(capsys, "TOOLPRMBENCH_DOWNLOAD_DEADLINE='soon'", "unset it for the default")
    monkeypatch.delenv("TOOLPRMBENCH_DOWNLOAD_DEADLINE")
    monkeypatch.setenv("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "inf")  # read for a file without a pinned size
    assert cli_main(["download", "--subset", "toolsandbox"]) == 2
    _refused(capsys, "TOOLPRMBENCH_MAX_DOWNLOAD_BYTES='inf'", f"the default, {data.official.DEFAULT_MAX_BYTES})")


# ----------------------------------------------------------------------------- control characters


def test_arguments_never_reach_the_terminal_as_control_sequences(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / f"data{ESC}"
    assert cli_main(["validate", str(folder)]) == 2  # our message
    err = _refused(capsys, "\\x1b]0;owned\\x07")
    with pytest.raises(SystemExit):  # argparse's own message echoes the value
        cli_main(["info", "--data", f"rebuilt{ESC}"])
    err += capsys.readouterr().err
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(folder))  # an environment value in a message
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    assert cli_main(["info", "--data", "official", "--subset", "gta"]) == 2
    err += capsys.readouterr().err
    assert "invalid choice" in err and err.count("\\x1b]0;owned") == 3
    assert not any(ch in err for ch in "\x1b\x07\x00")


def test_a_successful_command_prints_names_escaped_too(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`build` prints the folder it wrote: shown with its control characters escaped."""
    out = tmp_path / f"out{ESC}"
    assert cli_main(["build", "--source", "tooltalk", "--limit", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (out / "manifest_tooltalk.json").is_file()  # the folder is named as asked; only the display escapes
    assert f"-> {tmp_path}/out\\x1b]0;owned\\x07" in printed and not any(ch in printed for ch in "\x1b\x07")


# ----------------------------------------------------------------------------- empty output names


@pytest.mark.parametrize("argv, option", [
    (["demo", "--output", ""], "--output"),
    (["demo", "--output", "{tmp}"], "--output"),
    (["demo", "--output", "results/"], "--output"),
    (["demo", "--log", ""], "--log"),
    (["build", "--source", "tooltalk", "--out", " "], "--out"),
    (["audit", "--model-cases", "0"], "--model-cases"),
])
def test_an_empty_or_folder_output_name_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   argv: list[str], option: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(SystemExit) as info:
        cli_main(argv)
    assert info.value.code == 2 and f"argument {option}" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("argv, option", [
    (["demo", "--output", "x", "--output", "y"], "--output"),
    (["audit", "--tier", "hard", "--tier", "all"], "--tier"),
    (["audit", "--per-type", "1", "--per-type", "2"], "--per-type"),
    (["report", "runs", "--out", "a", "--out", "b"], "--out"),
    (["export", "--format", "reward", "--format", "grpo", "--out", "o"], "--format"),
    (["train", "reward", "--model", "m", "--out", "o", "--device", "cpu", "--device", "gpu"], "--device"),
    (["shortcuts", "--model", "none", "--model", "auto"], "--model"),
])
def test_every_single_valued_option_given_twice_differently_is_refused(argv: list[str], option: str, capsys) -> None:
    """Only `build` and `info` refused it; elsewhere the last value won in silence."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2 and f"{option} given twice" in capsys.readouterr().err
    build_parser().parse_args([*argv[: argv.index(option) + 2], *argv[argv.index(option) + 2 + 2:]])  # once: fine


def test_repeated_subset_flags_add_up_everywhere(capsys) -> None:
    """Repeated flags add up (docs/data.md); audit's and export's --subset were refused as
    "given twice" once every plain option became single-valued. A source named twice is still
    refused by export (it would export every case twice)."""
    parse = build_parser().parse_args
    assert parse(["audit", "--subset", "bfcl", "--subset", "tooltalk"]).subset == ["bfcl", "tooltalk"]
    assert parse(["export", "--format", "reward", "--out", "o", "--subset", "bfcl", "--subset", "tooltalk"]).subset \
        == ["bfcl", "tooltalk"]
    assert cli_main(["export", "--format", "reward", "--out", "o", "--subset", "bfcl", "--subset", "bfcl"]) == 2
    _refused(capsys, "--subset bfcl given twice")
