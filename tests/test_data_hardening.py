"""Unreadable data, `validate` listing everything, and the command line's refusals (issue 8).

Broken files are written from the fixture records with one value swapped for a marker, so
the expected line of each problem is found in the written text, not taken from the code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.fixture_data import FILENAMES, RECORDS, write_release_files
from toolprm_tasks import data
from toolprm_tasks.cli import build_parser
from toolprm_tasks.cli import main as cli_main
from toolprm_tasks.data import jsonio

MARK = '"__MARK__"'
BROKEN = {  # what replaces the marker, and what the error must say about it
    "nan": (b"NaN", "NaN"),
    "infinity": (b"Infinity", "Infinity"),
    "minus_infinity": (b"-Infinity", "-Infinity"),
    "bad_utf8": (b'"caf\xe9"', "UTF-8"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nested"),
    "long_number": (b"1" * 5000, "digits"),
}


def _broken_text(subset: str, record: int, kind: str, field: str = "action_rejected") -> tuple[bytes, int]:
    """The subset's fixture file with `field` of `record` broken; and the line of the damage."""
    records = RECORDS[subset]()
    records[record][field] = "__MARK__"
    text = json.dumps(records, ensure_ascii=False, indent=1)
    line = text[: text.index(MARK)].count("\n") + 1
    return text.encode("utf-8").replace(MARK.encode(), BROKEN[kind][0]), line


@pytest.fixture
def local_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_release_files(folder)
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(folder))
    monkeypatch.setenv("TOOLPRMBENCH_ALLOW_UNPINNED", "1")
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return folder


@pytest.mark.parametrize("kind", list(BROKEN))
def test_unreadable_file_names_file_record_and_line(local_copy: Path, kind: str, capsys) -> None:
    body, line = _broken_text("gta", 1, kind)
    (local_copy / "prmbench_GTA.json").write_bytes(body)
    with pytest.raises(data.DataError) as info:
        data.load_subset("gta")
    message = str(info.value)
    assert "prmbench_GTA.json" in message and "record 1" in message and f"line {line}" in message
    assert BROKEN[kind][1] in message
    assert cli_main(["info", "--data", "official", "--subset", "gta"]) == 2  # no traceback: one line, exit code 2
    err = capsys.readouterr().err
    assert err.startswith("toolprmbench: ") and "prmbench_GTA.json" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["nan", "bad_utf8", "deep"])
def test_json_lines_problems_name_record_and_line(tmp_path: Path, kind: str) -> None:
    rows = RECORDS["bfcl"]()[:3]
    rows[2]["action_rejected"] = "__MARK__"
    lines = [json.dumps(r).encode() for r in rows]
    path = tmp_path / "prmbench_bfcl_train.json"
    path.write_bytes(b"\n".join([lines[0], b"", lines[1], lines[2].replace(MARK.encode(), BROKEN[kind][0])]) + b"\n")
    with pytest.raises(jsonio.JSONFileError) as info:
        jsonio.read_records(path)
    message = str(info.value)
    assert str(path) in message and "record 2" in message and "line 4" in message and BROKEN[kind][1] in message


def test_reader_options(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"acc": NaN}\n{"acc": Infinity}\n', encoding="utf-8")
    with pytest.raises(jsonio.JSONFileError, match="record 0: line 1 column 9: non-standard JSON constant NaN"):
        jsonio.read_jsonl(path)
    values = jsonio.read_jsonl(path, allow_nonstandard=True)  # files lm-eval writes may hold NaN
    assert values[0]["acc"] != values[0]["acc"] and values[1]["acc"] == float("inf")
    path.write_text("\n", encoding="utf-8")
    assert jsonio.read_jsonl(path) == []  # an empty JSON Lines file is an empty list ...
    with pytest.raises(jsonio.JSONFileError, match="is empty"):
        jsonio.read_records(path)  # ... but a record file must have records
    path.write_text("[1, 2,\n 3", encoding="utf-8")
    with pytest.raises(jsonio.JSONFileError, match=r"results.jsonl: record 2: line 2 column 3: not valid JSON"):
        jsonio.read_json(path)


def test_a_syntax_error_in_a_json_list_is_not_read_as_json_lines(tmp_path: Path) -> None:
    text = json.dumps(RECORDS["gta"](), indent=1)
    broken = text.replace('"task": "gta-40"', '"task": "gta-40",,')
    path = tmp_path / "prmbench_GTA.json"
    path.write_text(broken, encoding="utf-8")
    line = broken[: broken.index(",,")].count("\n") + 1
    with pytest.raises(jsonio.JSONFileError, match=rf"record 2: line {line} column \d+: not valid JSON"):
        jsonio.read_records(path)


def test_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(RECORDS["bfcl"]()[:1]).encode())
    for read in (jsonio.read_records, jsonio.read_json):
        with pytest.raises(jsonio.JSONFileError, match="train.json: line 1 column 1: starts with a UTF-8 byte order mark"):
            read(path)
    assert "byte order mark" in jsonio.inspect_records(path).problems[0].problem


@pytest.mark.parametrize("body", [b"[]", b"  \n", b"[]\n"])
def test_an_empty_file_or_record_list_is_an_error(local_copy: Path, body: bytes, capsys) -> None:
    (local_copy / "prmbench_GTA.json").write_bytes(body)
    with pytest.raises((data.DataError, ValueError), match="prmbench_GTA.json.*(no records|empty)"):
        data.load_subset("gta")
    assert cli_main(["info", "--data", "official", "--subset", "gta"]) == 2  # not "0 cases", exit code 0
    assert "prmbench_GTA.json" in capsys.readouterr().err


def test_validate_lists_every_problem_of_every_file(tmp_path: Path, capsys) -> None:
    write_release_files(tmp_path)
    # bfcl: bad UTF-8 in record 2 and, further on, a record without its chosen action
    body, utf8_line = _broken_text("bfcl", 2, "bad_utf8")
    records = json.loads(body.replace(b"\xe9", b"e"))
    del records[4]["action_chosen"]
    text = json.dumps(records, indent=1).replace('"cafe"', MARK)
    (tmp_path / "prmbench_bfcl.json").write_bytes(text.encode().replace(MARK.encode(), BROKEN["bad_utf8"][0]))
    # gta: NaN in record 1, Infinity in record 3, and record 2 has no history
    records = RECORDS["gta"]()
    records[1]["action_rejected"], records[3]["action_chosen"] = "__NAN__", "__INF__"
    del records[2]["history"]
    text = json.dumps(records, indent=1)
    nan_line = text[: text.index('"__NAN__"')].count("\n") + 1
    inf_line = text[: text.index('"__INF__"')].count("\n") + 1
    (tmp_path / "prmbench_GTA.json").write_text(text.replace('"__NAN__"', "NaN").replace('"__INF__"', "Infinity"))
    # tooltalk: record 2 rejects its own chosen call written as a JSON string; record 5 repeats record 0
    records = RECORDS["tooltalk"]()
    records[2]["action_rejected"] = json.dumps(records[2]["action_chosen"])
    records.append(json.loads(json.dumps(records[0])))
    (tmp_path / "prmbench_tooltalk.json").write_text(json.dumps(records, indent=1))
    # toolsandbox: nested too deeply for the parser
    body, deep_line = _broken_text("toolsandbox", 0, "deep")
    (tmp_path / "prmbench_ToolSandbox.json").write_bytes(body)

    assert cli_main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    expected = [
        f"prmbench_bfcl.json: record 2: line {utf8_line}", "prmbench_bfcl.json: record 4: field 'action_chosen': missing",
        f"prmbench_GTA.json: record 1: line {nan_line}", f"prmbench_GTA.json: record 3: line {inf_line}",
        "prmbench_GTA.json: record 2: field 'history'",
        "prmbench_ToolSandbox.json: record 0", f"line {deep_line}",
    ]
    for fragment in expected:
        assert fragment in out, fragment
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert any("prmbench_tooltalk.json: record 2" in w and "identical" in w for w in warnings)
    assert any("prmbench_tooltalk.json: record 5" in w and "duplicate of record 0" in w for w in warnings)
    assert out.splitlines()[-1].startswith("problems:") or "problem(s)" in out.splitlines()[-1]


def test_validate_a_missing_folder(tmp_path: Path, capsys) -> None:
    assert cli_main(["validate", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


# ----------------------------------------------------------------------------- command line

def test_repeated_flags_keep_every_value(tmp_path: Path, data_env, capsys) -> None:
    assert cli_main(["build", "--source", "bfcl", "--source", "tooltalk", "--limit", "1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "manifest_bfcl.json").is_file() and (tmp_path / "manifest_tooltalk.json").is_file()
    capsys.readouterr()
    assert cli_main(["info", "--data", "official", "--json", "--subset", "bfcl", "--subset", "gta"]) == 0
    assert list(json.loads(capsys.readouterr().out)["subsets"]) == ["bfcl", "gta"]
    parser = build_parser()
    assert parser.parse_args(["download", "--subset", "gta", "--subset", "bfcl", "gta"]).subset == ["gta", "bfcl"]
    assert parser.parse_args(["shortcuts", "--judge", "longer", "--judge", "schema"]).judge == ["longer", "schema"]
    assert parser.parse_args(["shortcuts"]).judge == ["longer", "schema"]  # defaults are not extended
    assert parser.parse_args(["download"]).subset == list(FILENAMES)
    with pytest.raises(SystemExit):  # a single-valued option given twice is refused, not overridden
        parser.parse_args(["build", "--source", "bfcl", "--out", "a", "--out", "b"])
    assert "--out given twice" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["0", "-1", "x"])
def test_build_limit_must_be_positive(tmp_path: Path, limit: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["build", "--source", "tooltalk", "--limit", limit, "--out", str(tmp_path / "out")])
    assert info.value.code == 2 and "--limit" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, says", [
    (["--source", "bfcl", "--sampling", "policy"], "--policy"),
    (["--source", "bfcl", "--sampling", "online", "--policy", "mockllm/model"], "--annotator"),
    (["--source", "tooltalk", "--sampling", "online", "--policy", "m/a", "--annotator", "m/b"], "bfcl"),
    (["--source", "gta"], "--gta-dataset"),
    (["--source", "gta", "--gta-dataset", "{tmp}/missing/dataset.json"], "missing/dataset.json"),
    (["--source", "bfcl", "--sampling", "rule,bogus"], "bogus"),
])
def test_build_refuses_bad_arguments_without_a_traceback(tmp_path: Path, args: list[str], says: str, capsys) -> None:
    out = tmp_path / "out"
    argv = ["build", *[a.replace("{tmp}", str(tmp_path)) for a in args], "--out", str(out)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("toolprmbench: ") and says in err and "Traceback" not in err
    assert not out.exists()  # refused before any work


def test_build_out_must_be_a_folder(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert cli_main(["build", "--source", "tooltalk", "--out", str(a_file)]) == 2
    assert "notes.txt" in capsys.readouterr().err and a_file.read_text() == "mine"
    with pytest.raises(SystemExit) as info:
        cli_main(["build", "--source", "tooltalk", "--out", ""])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err


def test_every_option_has_help_text() -> None:
    def walk(parser: argparse.ArgumentParser, name: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    missing += walk(sub, f"{name} {sub_name}")
            elif action.option_strings and not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings)}")
        return missing

    assert walk(build_parser(), "toolprmbench") == []


# ----------------------------------------------------------------------------- rebuilt data

def test_the_build_command_writes_where_the_loader_reads(tmp_path: Path, monkeypatch, capsys) -> None:
    """`toolprmbench build` without --out builds into the folder the loaders read (here one
    source, to stay cheap; the whole default set: test_the_default_build_is_what_loaders_read);
    loading builds nothing and reads it."""
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TOOLPRMBENCH_REBUILT_DIR", raising=False)
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    with pytest.raises(data.NotBuilt, match="run `toolprmbench build`"):
        data.load_rebuilt("tooltalk")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing built
    assert cli_main(["build", "--source", "tooltalk"]) == 0
    folder = data.default_rebuilt_dir()
    assert f"-> {folder}" in capsys.readouterr().out
    loaded = data.load_rebuilt("tooltalk")
    assert loaded.path == folder / "prmbench_rebuilt_tooltalk.json" and loaded.cases
    assert loaded.sha256 == json.loads((folder / "manifest_tooltalk.json").read_text())["files"][loaded.path.name]
    with pytest.raises(data.NotBuilt, match="no rebuilt build of bfcl"):  # the other source: still not built
        data.load_rebuilt("bfcl")
    # --if-missing builds nothing that is there
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert cli_main(["build", "--source", "tooltalk", "--if-missing"]) == 0
    assert "built already" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


@pytest.mark.slow
def test_the_default_build_is_what_loaders_read(tmp_path: Path, monkeypatch) -> None:
    """`toolprmbench build` with no arguments: both sources, seed 0, in the loaders' folder,
    the same bytes as `--out DIR` (about 40 CPU-s)."""
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TOOLPRMBENCH_REBUILT_DIR", raising=False)
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    assert cli_main(["build"]) == 0
    assert cli_main(["build", "--source", "tooltalk", "bfcl", "--out", str(tmp_path / "out")]) == 0
    for subset in data.REBUILT_SUBSETS:
        loaded = data.load_rebuilt(subset)
        assert loaded.path.parent == data.default_rebuilt_dir()
        assert loaded.path.read_bytes() == (tmp_path / "out" / loaded.path.name).read_bytes()


@pytest.mark.parametrize("args, says", [
    (["--limit", "2"], "--limit"), (["--source", "gta"], "--source gta"),
    (["--sampling", "policy", "--policy", "openai/gpt-4o-mini"], "--sampling policy"),
])
def test_the_default_build_takes_only_its_own_options(args: list[str], says: str, tmp_path: Path, monkeypatch,
                                                      capsys) -> None:
    """A build other than the default set never lands where the loaders read it."""
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    if "gta" in args:
        (tmp_path / "dataset.json").write_text("[]")
        args = [*args, "--gta-dataset", str(tmp_path / "dataset.json")]
    assert cli_main(["build", *args]) == 2
    err = capsys.readouterr().err
    assert says in err and "--out DIR" in err
    assert not (tmp_path / "cache").exists()


def test_a_named_rebuilt_folder_is_only_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    # a folder the user names is only ever read: a clear error, never a build into it
    empty = tmp_path / "mine"
    empty.mkdir()
    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(empty))
    with pytest.raises(data.DataError, match="toolprmbench build --source bfcl"):
        data.load_rebuilt("bfcl")
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("read", [jsonio.read_records, jsonio.inspect_records])
def test_an_unclosed_string_full_of_escaped_quotes_is_one_token(tmp_path: Path, read) -> None:
    """Found in review: locating problems rescanned to the end of the file from every escaped
    quote of an unclosed string (a 1 MB hostile file took about an hour). An unclosed string is
    now one token reaching the end of the text, so the locating scan is a single pass."""
    tail = '"a \\" b ' + '\\"' * 1000
    assert jsonio._TOKEN.match(tail).end() == len(tail)  # the whole rest of the text, in one match
    path = tmp_path / "hostile.json"
    path.write_text('[{"a": "' + '\\"' * 20_000, encoding="utf-8")
    try:
        result = read(path)
    except jsonio.JSONFileError as exc:
        assert "hostile.json" in str(exc)
    else:
        assert result.problems and "hostile.json" in str(result.problems[0])


def test_text_that_is_not_valid_unicode_is_refused_naming_record_and_field(tmp_path: Path, capsys) -> None:
    """JSON's \\ud800 escape decodes to a lone surrogate: the loader passed it, then lm-eval's
    datasets and Inspect's log could not encode it and the whole run ended in a traceback."""
    from toolprm_tasks.core.cases import check_records

    records = RECORDS["tooltalk"]()
    records[1]["action_rejected"] = "I cannot do that \ud800 sorry"
    records[2]["history"][0]["content"] += "\udfff"
    check = check_records(records, subset="tooltalk", source="prmbench_tooltalk.json")
    assert [(e.index, e.field_name) for e in check.errors] == [(1, "action_rejected"), (2, "history")]
    assert all("not valid Unicode (a lone surrogate" in e.problem for e in check.errors)
    (tmp_path / "prmbench_tooltalk.json").write_text(json.dumps(records), encoding="utf-8")  # as \ud800 escapes
    assert cli_main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "prmbench_tooltalk.json: record 1: field 'action_rejected': text that is not valid Unicode" in out
