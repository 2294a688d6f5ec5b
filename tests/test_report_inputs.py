"""`toolprmbench report` on hostile and damaged inputs, through its real entry point.

Each input is a real framework output (lm-eval results and samples saved as the lm_eval CLI
saves them, an Inspect log) with one value changed, as a damaged file, a foreign writer or a
hostile name would change it. The report must say what is wrong in one line naming the file,
the record and the field (report.validate), or show the text escaped for where it is shown
(safe_text), never with a secret in it (report.redact).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_report import inspect_run, lm_eval_run

pytestmark = pytest.mark.slow

TASK = "toolprmbench_bfcl"


@dataclass
class Runs:
    lm_eval: Path  # the folder lm-eval wrote (results_*.json and samples_*.jsonl)
    inspect: Path  # an Inspect log (.eval)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, fixture_data_dir: Path, case_counts: dict[str, int]) -> Iterator[Runs]:
    from inspect_ai.model import ModelAPI

    from toolprm_tasks import data
    from toolprm_tasks.bfcl import bfcl

    root = tmp_path_factory.mktemp("report-inputs")

    async def count_text_tokens(self: ModelAPI, text: str) -> int:  # no tiktoken download
        return len(text.split())

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"TOOLPRMBENCH_DATA_DIR": str(fixture_data_dir), "TOOLPRMBENCH_ALLOW_UNPINNED": "1",
                           "TOOLPRMBENCH_CACHE_DIR": str(root / "cache")}.items():
            mp.setenv(key, value)
        mp.setattr(data.loaded, "_LOADED", {})
        mp.setattr(ModelAPI, "count_text_tokens", count_text_tokens)
        lm_eval_run(root / "lm", "schema", [TASK], {"order": "both"})
        log = inspect_run(root / "inspect", bfcl(order="both"), "toolprm-baseline/schema")
        yield Runs(next((root / "lm").rglob("results_*.json")).parent, Path(log.location))


def report_command(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`toolprmbench report ARGS` in process, through the console script's own function."""
    from toolprm_tasks.cli import main

    try:
        code = main(["report", *args])
    except SystemExit as exc:  # usage errors: Python prints the message and exits with 1
        code = exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- mutated copies


def lm_eval_copy(runs: Runs, target: Path, change_results: Callable[[dict[str, Any]], None] | None = None,
                 change_sample: Callable[[dict[str, Any]], None] | None = None, sample_index: int = 2) -> Path:
    """A copy of the lm-eval output folder with its results file (or one sample) changed."""
    shutil.copytree(runs.lm_eval, target)
    results = next(target.glob("results_*.json"))
    if change_results is not None:
        data = json.loads(results.read_text(encoding="utf-8"))
        change_results(data)
        results.write_text(json.dumps(data, ensure_ascii=True), encoding="utf-8")  # NaN as lm-eval writes it
    if change_sample is not None:
        samples = next(target.glob(f"samples_{TASK}_*.jsonl"))
        lines = samples.read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[sample_index])
        change_sample(record)
        lines[sample_index] = json.dumps(record)
        samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return results


def inspect_copy(runs: Runs, target: Path, change: Callable[[Any], None]) -> Path:
    """A copy of the Inspect log with one value changed (written by Inspect itself)."""
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(runs.inspect))
    change(log)
    write_eval_log(log, str(target))
    return target


def inspect_json_copy(runs: Runs, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy as Inspect's JSON log format, changed in the JSON text: for values Inspect's own
    writer would refuse to write."""
    from inspect_ai.log import read_eval_log, write_eval_log

    write_eval_log(read_eval_log(str(runs.inspect)), str(target))
    data = json.loads(target.read_text(encoding="utf-8"))
    change(data)
    target.write_text(json.dumps(data), encoding="utf-8")
    return target


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted key path ("config.model_args") of a JSON object."""
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return change


def _sample_score(value: Any) -> Callable[[Any], None]:
    def change(log: Any) -> None:
        score = next(iter(log.samples[3].scores.values()))
        score.value = {**score.value, "correct": value}
    return change


def _usage(log: Any) -> None:
    next(iter(log.stats.model_usage.values())).input_tokens = 10**400


# (name, which input, the change, the field the error must name, the record it must name)
MUTATIONS: list[tuple[str, str, Any, str, str]] = [
    ("date NaN", "results", _set("date", math.nan), "date", ""),
    ("date 1e20", "results", _set("date", 1e20), "date", ""),
    ("count 'lots'", "results", _set(f"n-samples.{TASK}.effective", "lots"), f"n-samples.{TASK}.effective", ""),
    ("n-samples a list", "results", _set("n-samples", [1, 2]), "n-samples", ""),
    ("n-samples entry a number", "results", _set(f"n-samples.{TASK}", 12), f"n-samples.{TASK}", ""),
    ("groups text", "results", _set("groups", "all"), "groups", ""),
    ("config text", "results", _set("config", "hf"), "config", ""),
    ("order_seed 'abc'", "results", _set(f"configs.{TASK}.metadata.order_seed", "abc"), "order_seed", f"task {TASK}"),
    ("package version a list", "results", _set(f"configs.{TASK}.metadata.toolprm_tasks_version", [1]),
     "toolprm_tasks_version", f"task {TASK}"),
    ("tokens 10**400", "results", _set("config.toolprm_engine", {"prompt_tokens": 10**400}), "prompt_tokens", ""),
    ("accuracy 7.5", "results", _set(f"results.{TASK}.acc,none", 7.5), "acc,none", f"task {TASK}"),
    ("accuracy 'zzz'", "results", _set(f"results.{TASK}.acc,none", "zzz"), "acc,none", f"task {TASK}"),
    ("negative time", "results", _set("total_evaluation_time_seconds", "-5.0"), "total_evaluation_time_seconds", ""),
    ("lone surrogate in a name", "results", _set("config.model_args", "judge=sch\ud800ema"), "model_args", ""),
    ("lone surrogate in the model", "results", _set("config.model", "toolprm-\udfffbaseline"), "config.model", ""),
    ("sample score 'zzz'", "sample", _set("acc.correct", "zzz"), "correct", "record 3"),
    ("sample position 3", "sample", _set("acc.chosen_position", 3), "chosen_position", "record 3"),
    ("Inspect score 'zzz'", "inspect", _sample_score("zzz"), "correct", "sample 3"),
    ("Inspect score 7.5", "inspect", _sample_score(7.5), "correct", "sample 3"),
    ("Inspect tokens 10**400", "inspect", _usage, "input_tokens", ""),
    ("Inspect seed 'abc'", "inspect", lambda log: log.eval.metadata.update(order_seed="abc"), "eval.metadata.order_seed",
     ""),
    ("Inspect cases 'lots'", "inspect", lambda log: log.eval.metadata["data"]["files"]["bfcl"].update(cases="lots"),
     "cases", ""),
    ("Inspect accuracy 7.5", "inspect", lambda log: setattr(log.results.scores[0].metrics["acc"], "value", 7.5),
     ".acc", ""),
    ("Inspect negative time", "inspect", lambda log: setattr(log.stats, "completed_at", "2000-01-01T00:00:00+00:00"),
     "stats.completed_at", ""),
    ("Inspect date NaN", "inspect-json", _set("stats.started_at", "NaN"), "stats.started_at", ""),
    ("Inspect data kind", "inspect", lambda log: log.eval.metadata.update(data_kind=["official"]), "data_kind", ""),
]


@pytest.mark.parametrize(("name", "where", "change", "field", "record"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_every_wrong_input_gives_one_named_line(runs: Runs, tmp_path: Path, capsys, name: str, where: str,
                                                change: Any, field: str, record: str) -> None:
    if where == "results":
        path = lm_eval_copy(runs, tmp_path / "lm", change_results=change)
    elif where == "sample":
        lm_eval_copy(runs, tmp_path / "lm", change_sample=change)
        path = next((tmp_path / "lm").glob(f"samples_{TASK}_*.jsonl"))
    elif where == "inspect":
        path = inspect_copy(runs, tmp_path / "log.eval", change)
    else:
        path = inspect_json_copy(runs, tmp_path / "log.json", change)
    given = path.parent if where in ("results", "sample") else path
    code, out, err = report_command(str(given), "--out", str(tmp_path / "out"), "--no-plots", capsys=capsys)
    assert code == 2, (name, out, err)
    assert "Traceback" not in err and err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert err.startswith(f"toolprmbench report: {path}: "), err  # the file
    assert record in err, err  # the record
    assert re.search(rf"field '[^']*{re.escape(field)}[^']*'", err), err  # the field
    assert "expected" in err or "Value error" in err, err  # what was expected
    assert len(err) < 1000 and "\x1b" not in err


# ----------------------------------------------------------------------------- hostile text


HOSTILE = "evil\n```\n# pwned [click](javascript:alert(1)) <img src=x>\r| x | y |\x1b]0;title\x07 $_$ $\\foo$ \x9b\x00"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _markdown_tokens(text: str) -> list[Any]:
    """CommonMark with GitHub's tables, every link destination allowed (so that a link the text
    makes is seen here, not dropped by markdown-it's own safety check)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    md.validateLink = lambda url: True
    found = []
    for token in md.parse(text):
        found.append(token)
        found.extend(token.children or [])
    return found


def test_hostile_names_are_escaped_in_every_output(runs: Runs, tmp_path: Path, capsys) -> None:
    """A judge name with a newline and a code fence, a javascript: link, raw HTML, a carriage
    return and table pipes, terminal escapes (OSC, CSI, NUL) and mathtext ($...$): the report
    is written, plots included; no output holds a control character; the Markdown has exactly
    the report's own code blocks and no link; report.json keeps the name itself."""
    lm_eval_copy(runs, tmp_path / "lm", change_results=_set("config.model_args", f"judge={HOSTILE}"))
    out = tmp_path / "out"
    code, stdout, err = report_command(str(tmp_path / "lm"), "--out", str(out), "--readme-section", capsys=capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    (row,) = report["sections"]["official"]["leaderboard"]["rows"]
    assert row["model"] == HOSTILE.split("/")[-1]  # the name itself, in JSON's own escapes
    assert {p["name"] for p in report["plots"]} >= {"accuracy_official", "position_bias_official"}  # `$` plots
    for name in ("report.md", "report.html", "report.json", "readme_section.md"):
        text = (out / name).read_text(encoding="utf-8")
        assert not CONTROLS.search(text), (name, CONTROLS.search(text))
    assert not CONTROLS.search(stdout) and not CONTROLS.search(err)
    for svg in out.glob("*.svg"):
        assert not CONTROLS.search(svg.read_text(encoding="utf-8")), svg.name
    for name in ("readme_section.md", "report.md"):
        tokens = _markdown_tokens((out / name).read_text(encoding="utf-8"))
        assert not [t for t in tokens if t.type in ("link_open", "html_inline", "html_block")], name
        headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
        assert not [h for h in headings if "pwned" in h], name  # no heading made from the name
    readme = (out / "readme_section.md").read_text(encoding="utf-8")
    tokens = _markdown_tokens(readme)
    assert [t.type for t in tokens].count("fence") == 2  # the report's command, the runs' commands
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 2  # the header and one judge: the \r and the pipes did not make rows
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<img src=x>" not in html and "<a " not in html
    assert stdout.count("## Evaluation Report") == 1


def test_a_two_hundred_thousand_character_name_is_elided_before_layout(runs: Runs, tmp_path: Path, capsys) -> None:
    """Plots and tables show a long name elided (its start and end), report.json whole."""
    import xml.etree.ElementTree as ET

    from toolprm_tasks.core.safe_text import CELL_LIMIT, LABEL_LIMIT

    name = "a" * 100_000 + "b" * 100_000
    lm_eval_copy(runs, tmp_path / "lm", change_results=_set("config.model_args", f"judge={name}"))
    out = tmp_path / "out"
    code, _, err = report_command(str(tmp_path / "lm"), "--out", str(out), capsys=capsys)
    assert code == 0, err
    (row,) = json.loads((out / "report.json").read_text())["sections"]["official"]["leaderboard"]["rows"]
    assert row["judge"] == name
    texts = [t for t in ET.parse(out / "accuracy_official.svg").getroot().itertext() if "aaa" in t]
    labels = [t.split("  [")[0] for t in texts]  # the judge, less its flags
    assert labels and all(len(t) == LABEL_LIMIT and t.startswith("a") and t.endswith("b") and "…" in t for t in labels)
    lines = [line for line in (out / "report.md").read_text().splitlines() if "aaa" in line]
    assert lines and all(len(line) < CELL_LIMIT + 400 for line in lines)


# ----------------------------------------------------------------------------- secrets


def test_secrets_in_model_arguments_and_urls_never_reach_the_report(runs: Runs, tmp_path: Path, capsys) -> None:
    secrets = ("sk-LMSECRET", "PASSWORD1", "INSPECTSECRET", "PASSWORD2", "QUERYSECRET", "hf_TOKEN3")
    lm_eval_copy(runs, tmp_path / "lm", change_results=_set(
        "config.model_args", "judge=schema,api_key=sk-LMSECRET,base_url=https://me:PASSWORD1@127.0.0.1:8000/v1"))

    def inspect_args(log: Any) -> None:
        log.eval.model_args = {"Authorization": "Bearer INSPECTSECRET", "hf_token": "hf_TOKEN3",
                               "base_url": "https://you:PASSWORD2@example.org/v1?token=QUERYSECRET&x=1"}
    inspect_copy(runs, tmp_path / "logs" / "log.eval", inspect_args)
    out = tmp_path / "out"
    code, stdout, err = report_command(str(tmp_path / "lm"), str(tmp_path / "logs"), "--out", str(out),
                                       "--readme-section", capsys=capsys)
    assert code == 0, err
    written = stdout + err + "".join(p.read_text(encoding="utf-8") for p in out.iterdir() if p.suffix != ".png")
    for secret in secrets:
        assert secret not in written, secret
    assert "https://me:***@127.0.0.1:8000/v1" in written and "https://you:***@example.org/v1?token=***&x=1" in written
    assert "Authorization=***" in written and "api_key=***" in written and "hf_token=***" in written


# ----------------------------------------------------------------------------- command line and files


def test_an_empty_out_is_refused(runs: Runs, tmp_path: Path, capsys) -> None:
    code, out, err = report_command(str(runs.lm_eval), "--out", "", capsys=capsys)
    assert code != 0 and "--out is empty" in err and "report:" not in out


def test_report_files_get_the_mode_of_a_new_file(runs: Runs, tmp_path: Path, capsys) -> None:
    for umask in (0o022, 0o077):
        previous = os.umask(umask)
        try:
            out = tmp_path / f"out-{umask:o}"
            code, _, err = report_command(str(runs.lm_eval), "--out", str(out), "--no-plots", capsys=capsys)
        finally:
            os.umask(previous)
        assert code == 0, err
        for name in ("report.md", "report.html", "report.json", "readme_section.md"):
            assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, (name, oct((out / name).stat().st_mode))


def test_a_run_met_twice_is_read_once(runs: Runs, tmp_path: Path) -> None:
    """The same folder given twice, or a copy of a run beside it, were two rows labelled "run 1"
    and "run 2" with equal numbers: a rerun that never happened."""
    from toolprm_tasks.report.discover import collect

    once = collect([runs.lm_eval, runs.inspect])
    copies = tmp_path / "copies"
    shutil.copytree(runs.lm_eval, copies / "lm")
    shutil.copy(runs.inspect, copies / runs.inspect.name)
    for paths in ([runs.lm_eval, runs.lm_eval, runs.inspect, runs.inspect], [runs.lm_eval, runs.inspect, copies]):
        inputs = collect(paths)
        assert [(r.framework, r.model, r.trials) for r in inputs.runs] == [
            (r.framework, r.model, r.trials) for r in once.runs]
        assert sum("(read once)" in line for line in inputs.not_read) == 2


def test_nothing_to_report_says_why_each_file_was_passed_over(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "results_2026-12-07T00-00-00.json").write_text(json.dumps(
        {"results": {"hellaswag": {"acc,none": 0.5}}, "configs": {"hellaswag": {}}}), encoding="utf-8")
    code, _, err = report_command(str(folder), "--out", str(tmp_path / "out"), capsys=capsys)
    assert code != 0
    assert "nothing to report in" in err and "no ToolPRMBench task in this lm-eval results file (tasks: hellaswag)" in err


def test_an_eval_set_folder_is_read(runs: Runs, tmp_path: Path) -> None:
    """`inspect eval-set` writes logs.json beside the logs: an index whose entries hold "version"
    and "eval", so it was taken for a log and the whole report failed on it."""
    from toolprm_tasks.report.discover import collect

    folder = tmp_path / "eval-set"
    folder.mkdir()
    shutil.copy(runs.inspect, folder / runs.inspect.name)
    (folder / "logs.json").write_text(json.dumps({runs.inspect.name: {"version": 2, "status": "success",
                                                                      "eval": {"task": TASK}}}), encoding="utf-8")
    (folder / "eval-set.json").write_text(json.dumps({"eval_set_id": "x", "tasks": []}), encoding="utf-8")
    inputs = collect([folder])
    assert [r.framework for r in inputs.runs] == ["inspect"] and inputs.not_read == []


def test_links_in_a_folder_are_named_not_passed_over(runs: Runs, tmp_path: Path) -> None:
    """rglob does not enter a linked folder and skips a dead link: a run was left out in silence."""
    from toolprm_tasks.report.discover import collect

    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copy(runs.inspect, folder / runs.inspect.name)
    (folder / "linked").symlink_to(runs.lm_eval, target_is_directory=True)
    (folder / "dead.eval").symlink_to(tmp_path / "nowhere.eval")
    inputs = collect([folder])
    assert len(inputs.runs) == 1
    assert any("linked: a linked folder (not followed" in line for line in inputs.not_read), inputs.not_read
    assert any("dead.eval: not a regular file" in line for line in inputs.not_read), inputs.not_read
    assert len(collect([folder, folder / "linked"]).runs) == 2  # named, it is read


def test_a_reused_out_keeps_no_file_of_an_earlier_report(runs: Runs, tmp_path: Path, capsys) -> None:
    """A second report into the same folder left the first one's plots and register entry there,
    claiming runs the new report does not hold."""
    out = tmp_path / "out"
    code, _, err = report_command(str(runs.lm_eval), str(runs.inspect), "--out", str(out), "--register-entry",
                                  "https://github.com/x/y", "--commit", "0" * 40, capsys=capsys)
    assert code == 0, err
    first = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # the command that made it, whole (the two options change what is written)
    assert first["command"].endswith(f"--commit {'0' * 40} --register-entry https://github.com/x/y"), first["command"]
    plots = [out / p[k] for p in first["plots"] for k in ("png", "svg")]
    assert plots and all(p.exists() for p in plots) and (out / "register_entry.yaml").exists()
    (out / "mine.txt").write_text("a user's file", encoding="utf-8")
    code, _, err = report_command(str(runs.lm_eval), "--out", str(out), "--no-plots", capsys=capsys)
    assert code == 0, err
    assert not any(p.exists() for p in plots) and not (out / "register_entry.yaml").exists()
    assert (out / "mine.txt").exists() and (out / "report.json").exists()


def test_versions_a_run_recorded_are_read_and_other_ones_said(runs: Runs, tmp_path: Path, capsys) -> None:
    """The README section's "Implementation" names the versions of the machine making the report;
    a run made with another lm-eval passed for one made with these."""
    from toolprm_tasks.core.versions import package_versions
    from toolprm_tasks.report.discover import collect

    here = package_versions("toolprm-tasks", "inspect-ai", "lm-eval")
    inspect_run, = collect([runs.inspect]).runs
    assert inspect_run.made_with == {"toolprm-tasks": here["toolprm-tasks"], "inspect-ai": here["inspect-ai"]}
    code, out, err = report_command(str(runs.lm_eval), str(runs.inspect), "--readme-section", capsys=capsys)
    assert code == 0 and "recorded other versions" not in out, err  # made here: nothing to say
    lm_eval_run, = collect([runs.lm_eval]).runs  # our task classes record the package in lm-eval's file
    assert lm_eval_run.made_with == {"lm-eval": here["lm-eval"], "toolprm-tasks": here["toolprm-tasks"]}
    lm_eval_copy(runs, tmp_path / "elsewhere", lambda data: data.update(lm_eval_version="0.5.0.dev1"))
    assert collect([tmp_path / "elsewhere"]).runs[0].made_with == {"lm-eval": "0.5.0.dev1",
                                                                    "toolprm-tasks": here["toolprm-tasks"]}

    def older(data: dict[str, Any]) -> None:  # results written before the package version was recorded
        for config in data["configs"].values():
            del config["metadata"]["toolprm_tasks_version"]
    lm_eval_copy(runs, tmp_path / "older", older)
    assert collect([tmp_path / "older"]).runs[0].made_with == {"lm-eval": here["lm-eval"]}
    code, out, err = report_command(str(tmp_path / "elsewhere"), "--readme-section", capsys=capsys)
    assert code == 0, err
    assert "The runs recorded other versions than these: lm-eval 0.5.0.dev1" in out


def test_a_report_removes_no_file_it_did_not_write_before(runs: Runs, tmp_path: Path, capsys) -> None:
    """Found in review: the removal trusted any report.json's plot names (it deleted notes.txt and
    the new report.json itself, failed on a folder name) and removed the YAML names with no
    earlier report there at all."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("evaluation_report.yaml", "notes.txt", "readme_section.md"):
        (out / name).write_text("the user's", encoding="utf-8")
    (out / "sub").mkdir()
    code, _, err = report_command(str(runs.lm_eval), "--out", str(out), "--no-plots", capsys=capsys)
    assert code == 0 and (out / "evaluation_report.yaml").read_text(encoding="utf-8") == "the user's", err
    planted = {"generated_at": "x", "task_versions_known": [], "plots": [
        {"png": "notes.txt", "svg": "report.json"}, {"png": "readme_section.md", "svg": "sub"},
        {"png": "../outside.png", "svg": "sub.svg"}]}
    (out / "report.json").write_text(json.dumps(planted), encoding="utf-8")
    (out / "sub.svg").mkdir()
    code, _, err = report_command(str(runs.lm_eval), "--out", str(out), "--no-plots", capsys=capsys)
    assert code == 0, err
    assert (out / "notes.txt").exists() and (out / "sub").is_dir() and (out / "sub.svg").is_dir()
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["plots"] == []  # this report's own
    (out / "report.json").write_text("[" * 200_000, encoding="utf-8")  # not ours, and too deep to read
    code, _, err = report_command(str(runs.lm_eval), "--out", str(out), "--no-plots", capsys=capsys)
    assert code == 0 and "Traceback" not in err, err


def test_the_reproduce_command_carries_the_settings_lm_eval_recorded(runs: Runs, tmp_path: Path) -> None:
    """A run made with `--apply_chat_template --gen_kwargs max_gen_toks=32 --device cpu` was
    reproduced without them (a documentation probe); a secret in the generation settings stays hidden."""
    from toolprm_tasks.report.discover import collect

    plain = collect([runs.lm_eval]).runs[0].command
    assert "--apply_chat_template" not in plain and "--gen_kwargs" not in plain

    def settings(data: dict[str, Any]) -> None:
        data.update(chat_template_sha="abc123", system_instruction="Be careful.")
        data["config"].update(gen_kwargs={"max_gen_toks": 32, "api_key": "sk-x"}, device="cpu")
    lm_eval_copy(runs, tmp_path / "with", settings)
    command = collect([tmp_path / "with"]).runs[0].command
    assert ("--apply_chat_template --system_instruction 'Be careful.' --gen_kwargs "
            "'{\"max_gen_toks\": 32, \"api_key\": \"***\"}' --device cpu") in command, command
    assert "sk-x" not in command
    lm_eval_copy(runs, tmp_path / "default", lambda data: data["config"].update(device="cuda:0"))
    assert "--device" not in collect([tmp_path / "default"]).runs[0].command  # lm-eval's default: said by nothing
