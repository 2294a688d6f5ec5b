"""Without network, the official data's commands end in a few lines that name what runs
offline (the rebuilt tasks and commands) and, for GTA, the file to supply: no traceback in
lm-eval's, Inspect's or toolprmbench's command line; library callers get a DataError."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.helpers import cli
from toolprm_tasks import data
from toolprm_tasks.cli import main as cli_main


def _closed_port() -> int:
    """A port nothing listens on (bound, then released): a connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No network (the mirror refuses), an empty cache, no local copy."""
    env = {"TOOLPRMBENCH_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
           "TOOLPRMBENCH_CACHE_DIR": str(tmp_path / "empty-cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("TOOLPRMBENCH_DATA_DIR", "TOOLPRMBENCH_REBUILT_DIR", "TOOLPRMBENCH_ALLOW_UNPINNED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(data.official, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return env


# ----------------------------------------------------------------------------- the messages


@pytest.mark.parametrize("protocol, norm, task", [
    ("generative", "char", "toolprmbench_rebuilt_bfcl"),
    ("pairwise_ll", "char", "toolprmbench_rebuilt_bfcl_pairwise_ll"),
    ("pointwise", "char", "toolprmbench_rebuilt_bfcl_pointwise"),
    ("pointwise", "none", "toolprmbench_rebuilt_bfcl_prm"),
])
def test_lm_eval_names_the_rebuilt_twin_of_the_task(offline: dict, protocol: str, norm: str, task: str) -> None:
    """A library caller of lm-eval's loader gets a DataError naming the same task's rebuilt
    twin; the command-line hook is installed only in lm_eval's own process."""
    from toolprm_tasks.lm_eval_adapter.docs import load_docs

    hook = sys.excepthook
    with pytest.raises(data.DataError) as info:
        load_docs("bfcl", protocol, norm=norm)
    message = str(info.value)
    assert f"--tasks {task} " in message and "TOOLPRMBENCH_DATA_DIR" in message
    assert "Connection refused" in message and "prmbench_bfcl.json" in message
    assert sys.excepthook is hook  # not lm-eval's command line: nothing changed for this process


def test_inspect_task_error_is_a_data_error_inspect_prints_alone(offline: dict) -> None:
    """The Inspect task raises a DataError that is Inspect's PrerequisiteError (its CLI prints
    that type's message without a traceback); for GTA it names the two files to supply."""
    from inspect_ai._util.error import PrerequisiteError

    from toolprm_tasks.gta import gta

    with pytest.raises(data.DataError) as info:
        gta()
    assert isinstance(info.value, PrerequisiteError)
    printed = info.value.message
    assert printed.startswith("toolprm-tasks: ") and printed.count("\n") < 8
    for says in ("prmbench_GTA.json", "TOOLPRMBENCH_DATA_DIR", "dataset.json",
                 "toolprmbench build --source gta --gta-dataset PATH/dataset.json",
                 "inspect eval toolprm_tasks/gta -T data=rebuilt",
                 "inspect eval toolprm_tasks/toolprmbench -T data=rebuilt"):
        assert says in printed


def test_toolprmbench_info_official_names_the_rebuilt_command(offline: dict, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["info", "--data", "official", "--subset", "bfcl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("toolprmbench: ") and "Traceback" not in err
    assert "toolprmbench info --data rebuilt" in err and "TOOLPRMBENCH_DATA_DIR" in err
    assert len(err.splitlines()) <= 4


def test_rebuilt_gta_without_a_build_says_which_file(offline: dict, tmp_path: Path) -> None:
    with pytest.raises(data.DataError) as info:
        data.load_rebuilt("gta")
    assert "--gta-dataset PATH/dataset.json" in str(info.value) and "prmbench_GTA.json" in str(info.value)


def _no_build_in(cache: Path) -> None:
    """Loading built nothing: no rebuilt folder appeared in the cache."""
    assert not cache.exists() or not [p for p in cache.iterdir() if p.name.startswith("rebuilt-")]


def test_rebuilt_without_a_build_is_one_line_naming_the_command(offline: dict) -> None:
    """Loading never builds (issue 18): the rebuilt loader, lm-eval's and Inspect's task
    loaders name `toolprmbench build` in one line, and nothing is built."""
    from toolprm_tasks.lm_eval_adapter.docs import load_docs
    from toolprm_tasks.tooltalk import tooltalk

    cache = Path(offline["TOOLPRMBENCH_CACHE_DIR"])
    folder = data.default_rebuilt_dir()
    for load in (lambda: data.load_rebuilt("tooltalk"), lambda: data.load_subsets(["tooltalk"], data="rebuilt"),
                 lambda: load_docs("tooltalk", "generative", task_data="rebuilt"),
                 lambda: tooltalk(data="rebuilt")):
        with pytest.raises(data.DataError) as info:  # Inspect's: a DataError its CLI prints alone
            load()
        assert str(info.value) == f"no rebuilt build of tooltalk in {folder}: run `toolprmbench build` (about 40 CPU-s)"
    _no_build_in(cache)
    with pytest.raises(data.NotBuilt, match=r"run `toolprmbench build --seed 3`"):
        data.load_rebuilt("bfcl", seed=3)
    _no_build_in(cache)


def test_the_lm_eval_hook_prints_only_our_marked_errors(capsys: pytest.CaptureFixture) -> None:
    """The hook (installed in lm_eval's process) prints a marked error of ours as its message,
    also when a framework wrapped it, and hands anything else to the hook it replaced."""
    from toolprm_tasks import brief_errors

    seen = []
    hook = brief_errors._excepthook(lambda *args: seen.append(args[1]))
    ours = brief_errors.for_lm_eval(data.DataError("no data: run toolprmbench_rebuilt_bfcl\x1b[2J"))
    try:
        try:
            raise ours
        except data.DataError as exc:
            raise RuntimeError("wrapped by a framework") from exc
    except RuntimeError as wrapped:
        hook(RuntimeError, wrapped, wrapped.__traceback__)
    other = ValueError("not ours")
    hook(ValueError, other, None)
    err = capsys.readouterr().err
    assert err == "toolprm-tasks: no data: run toolprmbench_rebuilt_bfcl\\x1b[2J\n"  # escaped, one message
    assert seen == [other]


# ----------------------------------------------------------------------------- the real commands


@pytest.mark.cli
def test_lm_eval_offline_is_a_few_lines_naming_the_rebuilt_task(offline: dict) -> None:
    proc = cli("lm_eval", "--model", "toolprm-baseline", "--model_args", "judge=first", "--tasks",
               "toolprmbench_bfcl", env=offline, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "Traceback" not in output and len(output.splitlines()) < 15, output
    assert "--tasks toolprmbench_rebuilt_bfcl " in output and "TOOLPRMBENCH_DATA_DIR" in output


@pytest.mark.cli
def test_lm_eval_rebuilt_without_a_build_is_one_line(offline: dict) -> None:
    proc = cli("lm_eval", "--model", "toolprm-baseline", "--model_args", "judge=first", "--tasks",
               "toolprmbench_rebuilt_bfcl", env=offline, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output
    (line,) = [line for line in output.splitlines() if line.startswith("toolprm-tasks: ")]
    assert line.startswith("toolprm-tasks: no rebuilt build of bfcl in ") and "run `toolprmbench build`" in line
    assert len(output.splitlines()) < 15, output
    _no_build_in(Path(offline["TOOLPRMBENCH_CACHE_DIR"]))


@pytest.mark.cli
def test_inspect_gta_offline_says_which_file_to_supply(offline: dict, tmp_path: Path) -> None:
    proc = cli("inspect", "eval", "toolprm_tasks/gta.py", "--model", "toolprm-baseline/first",
               "--log-dir", str(tmp_path / "logs"), env=offline, check=False, cwd=Path(__file__).resolve().parents[1])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "Traceback" not in output and len(output.splitlines()) < 25, output  # Inspect wraps at 80 columns
    flat = " ".join(output.split())
    assert "--gta-dataset PATH/dataset.json" in flat and "prmbench_GTA.json" in flat and "-T data=rebuilt" in flat


# ----------------------------------------------------------------------------- refused options, briefly

@pytest.mark.parametrize("make, kind, says", [
    (lambda: __import__("toolprm_tasks.tooltalk", fromlist=["x"]).tooltalk(order="sideways"), ValueError,
     "unknown order 'sideways'"),
    (lambda: __import__("toolprm_tasks.tooltalk", fromlist=["x"]).tooltalk(max_tokens=0), ValueError,
     "task parameter max_tokens must be a whole number >= 1, got 0"),
    (lambda: __import__("toolprm_tasks.search", fromlist=["x"]).toolprm_search(n=0), ValueError,
     "toolprm_search: task parameter n must be a whole number >= 1, got 0"),
    (lambda: __import__("inspect_ai.model", fromlist=["x"]).get_model("toolprm-baseline/bogus"), ValueError,
     "NAME is the judge"),
    (lambda: __import__("inspect_ai.model", fromlist=["x"]).get_model("toolprm-replay/4", order="x"), ValueError,
     "option order must be one of"),
])
def test_refused_inspect_parameters_are_errors_inspect_prints_alone(make, kind: type, says: str) -> None:
    """They were plain errors: Inspect's command line printed a 100-280 line traceback first.
    Callers still catch the same kind of error."""
    from inspect_ai._util.error import PrerequisiteError

    with pytest.raises(kind) as info:
        make()
    assert isinstance(info.value, PrerequisiteError) and says in str(info.value)
    assert info.value.message.startswith("toolprm-tasks: ") and says in info.value.message


def test_refused_lm_eval_options_are_marked_for_the_brief_hook() -> None:
    """Refused --metadata and --model_args values are the same ValueError, marked so that the
    lm_eval command's hook prints their message alone (it printed 60 lines of traceback)."""
    from toolprm_tasks.brief_errors import _marked
    from toolprm_tasks.engines.factory import OptionError
    from toolprm_tasks.lm_eval_adapter.baseline_model import BaselineJudgeLM
    from toolprm_tasks.lm_eval_adapter.docs import load_docs

    for make, kind, says in [
        (lambda: load_docs("bfcl", "generative", order="sideways"), ValueError, "unknown order 'sideways'"),
        (lambda: load_docs("bfcl", "generative", order_seed="abc"), ValueError, "order_seed must be a whole number"),
        (lambda: BaselineJudgeLM(judge="bogus"), OptionError, "option judge must be one of"),
        (lambda: BaselineJudgeLM(), OptionError, "needs a judge"),
    ]:
        with pytest.raises(kind, match=says) as info:
            make()
        assert _marked(info.value) is info.value


@pytest.mark.cli
def test_refused_options_on_the_command_lines_are_one_message(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    runs = [
        (("inspect", "eval", "toolprm_tasks/tooltalk.py", "--model", "toolprm-baseline/first", "-T", "order=sideways",
          "--log-dir", str(tmp_path / "logs")), "unknown order 'sideways'"),
        (("inspect", "eval", "toolprm_tasks/search.py", "--model", "toolprm-replay/4", "-M", "seed=x",
          "--log-dir", str(tmp_path / "logs")), "option seed must be a whole number"),
        (("lm_eval", "--model", "toolprm-baseline", "--model_args", "judge=bogus", "--tasks",
          "toolprmbench_rebuilt_tooltalk"), "option judge must be one of"),
        (("lm_eval", "--model", "toolprm-baseline", "--model_args", "judge=first", "--tasks",
          "toolprmbench_rebuilt_tooltalk", "--metadata", '{"order": "sideways"}'), "unknown order 'sideways'"),
    ]
    for argv, says in runs:
        proc = cli(*argv, check=False, cwd=repo)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "Traceback" not in output, output
        assert says in " ".join(output.split()) and len(output.splitlines()) < 15, output


def test_an_official_training_file_offline_is_named_with_a_remedy_that_works() -> None:
    """The message named the test file (prmbench_bfcl.json) and a `toolprmbench download` cache,
    which holds test files only; export and train are told their own rebuilt route."""
    message = data.DataUnavailable("bfcl", "offline", "toolprmbench", command="export",
                                   filename="prmbench_bfcl_train.json").args[0]
    assert "put the paper's prmbench_bfcl_train.json" in message and "prmbench_bfcl.json " not in message
    assert "toolprmbench download" not in message
    assert "toolprmbench export --data rebuilt" in message
    test_file = data.DataUnavailable("bfcl", "offline", "toolprmbench", command="info").args[0]
    assert "put the paper's prmbench_bfcl.json" in test_file and "toolprmbench download" in test_file
