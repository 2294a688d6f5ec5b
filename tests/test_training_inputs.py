"""`toolprmbench export` / `train` refuse what would train on the wrong thing or on nothing:
out-of-range settings, options the recipe does not read, a source named twice or unknown,
training cases that are test cases under another name, and pairs without a preference. Checked
before any model is loaded (no TRL step here: tests/test_training_trl.py runs those)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_training import write_rebuilt_split
from toolprm_tasks import data
from toolprm_tasks.cli import main as cli_main
from toolprm_tasks.training import export, recipes, splits


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rebuilt build (tests/test_training.py's), the loaders pointed at it."""
    folder = tmp_path / "rebuilt"
    write_rebuilt_split(folder)
    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(folder))
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return folder


def _rewrite(folder: Path, subset: str, split: str, records: list[dict[str, Any]]) -> None:
    """Replace one split file of a build, its manifest kept consistent (digest, count)."""
    name = f"prmbench_rebuilt_{subset}{'_train' if split == 'train' else ''}.json"
    body = json.dumps(records).encode()
    (folder / name).write_bytes(body)
    manifest = json.loads((folder / f"manifest_{subset}.json").read_text())
    manifest["files"][name] = hashlib.sha256(body).hexdigest()
    manifest["splits"][split]["cases"] = len(records)
    if split == "test":
        manifest["cases"] = len(records)
    (folder / f"manifest_{subset}.json").write_text(json.dumps(manifest))
    data.loaded._LOADED.clear()


def _records(folder: Path, subset: str, split: str) -> list[dict[str, Any]]:
    return json.loads((folder / f"prmbench_rebuilt_{subset}{'_train' if split == 'train' else ''}.json").read_text())


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one-line error of a refused command (exit code 2, argparse's or the CLI's)."""
    try:
        code = cli_main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    return capsys.readouterr().err


# --------------------------------------------------------------------------- settings (D1, D2, D9)


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--epochs", "-1"), ("--epochs", "nan"),
                                           ("--epochs", "inf"), ("--learning-rate", "0"),
                                           ("--learning-rate", "-1e-5"), ("--learning-rate", "nan"),
                                           ("--learning-rate", "inf")])
def test_epochs_and_learning_rate_must_be_finite_and_positive(option: str, value: str, tmp_path: Path,
                                                              capsys) -> None:
    err = _refused(["train", "reward", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
                    f"{option}={value}"], capsys)
    assert f"argument {option}: must be a finite number above 0" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("override", [{"epochs": 0}, {"learning_rate": float("nan")}, {"learning_rate": -1.0}])
def test_the_recipes_refuse_the_same_settings(override: dict[str, float]) -> None:
    with pytest.raises(recipes.TrainingError, match="must be a finite number above 0"):
        recipes.settings_for("reward", "cpu", **override)


@pytest.mark.parametrize("argv, says", [
    (["grpo", "--train-layers", "2"], "--train-layers applies to `train reward` only"),
    (["reward", "--num-generations", "4"], "--num-generations applies to `train grpo` only"),
    (["reward", "--max-completion-length", "8"], "--max-completion-length applies to `train grpo` only"),
    (["grpo", "--batch-size", "3", "--num-generations", "2"], "3 completions per generation batch is not a "
                                                              "multiple of num_generations 2"),
    (["grpo", "--num-generations", "1"], "GRPO needs at least 2 completions"),
])
def test_options_the_recipe_does_not_read_or_cannot_use_are_refused(argv: list[str], says: str, tmp_path: Path,
                                                                     capsys) -> None:
    if "batch" in says or "at least 2" in says:
        pytest.importorskip("trl", reason="the recipe needs TRL first")
    err = _refused(["train", *argv, "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o")], capsys)
    assert says in err and "Traceback" not in err


def test_max_steps_and_epochs_together_are_refused(tmp_path: Path, capsys) -> None:
    """transformers' max_steps overrides the epochs: --epochs 0.5 --max-steps 6 trained 2 epochs and
    recorded 0.5."""
    pytest.importorskip("trl", reason="the recipe needs TRL first")
    err = _refused(["train", "reward", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
                    "--max-steps", "6", "--epochs", "0.5"], capsys)
    assert "--max-steps and --epochs: give one" in err and not (tmp_path / "o").exists()


def test_device_gpu_without_cuda_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl", reason="the recipe needs TRL first")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device gpu is usable here")
    err = _refused(["train", "reward", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
                    "--device", "gpu"], capsys)
    assert "--device gpu: torch sees no CUDA device here" in err and "Traceback" not in err


def test_the_recipes_refuse_the_other_recipes_fields() -> None:
    with pytest.raises(recipes.TrainingError, match="train_layers: only the reward recipe reads it, not grpo"):
        recipes.settings_for("grpo", "cpu", train_layers=2)
    with pytest.raises(recipes.TrainingError, match="num_generations: only the grpo recipe reads it"):
        recipes.settings_for("reward", "cpu", num_generations=2)
    assert recipes.settings_for("grpo", "cpu", batch_size=3, grad_accum=2, num_generations=2).batch_size == 3


# --------------------------------------------------------------------------- sources (D6, D8)


@pytest.mark.parametrize("command", [["export", "--format", "reward"], ["train", "reward", "--model", "m"]])
def test_a_source_named_twice_or_unknown_is_refused(command: list[str], build, tmp_path: Path,
                                                    capsys) -> None:
    out = tmp_path / "o"
    assert f"{command[0]}: --subset bfcl given twice" in _refused([*command, "--out", str(out), "--subset", "bfcl",
                                                                   "tooltalk", "bfcl"], capsys)
    err = _refused([*command, "--out", str(out), "--subset", "nope"], capsys)
    assert "argument --subset: invalid choice: 'nope'" in err and "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------------- the leakage check (D3, D4)


def test_export_of_the_training_split_runs_the_leakage_check(build, tmp_path: Path, capsys) -> None:
    folder = build
    test = _records(folder, "tooltalk", "test")
    _rewrite(folder, "tooltalk", "train", _records(folder, "tooltalk", "train") + [test[0]])
    err = _refused(["export", "--format", "reward", "--subset", "tooltalk", "--out", str(tmp_path / "o")], capsys)
    assert "conversation cluster(s) are also in the test split" in err
    assert not (tmp_path / "o").exists()
    # --split test exports the test cases: nothing to check them against
    assert cli_main(["export", "--format", "reward", "--split", "test", "--subset", "tooltalk",
                     "--out", str(tmp_path / "t")]) == 0


def test_the_export_records_the_held_out_files_as_training_does(build, tmp_path: Path) -> None:
    assert cli_main(["export", "--format", "grpo", "--out", str(tmp_path / "o"), "--data-seed", "0"]) == 0
    report = json.loads((tmp_path / "o" / export.REPORT_NAME).read_text())
    described = report["training_split"]
    assert described["held_out"]["bfcl"]["file"] == "prmbench_rebuilt_bfcl.json"
    assert described["clusters_shared_with_test"] == {} and described["cases_equal_to_test"] == {}
    assert report["data_seed"] == 0


def test_a_test_case_under_another_cluster_name_is_refused(build) -> None:
    folder = build
    test = _records(folder, "bfcl", "test")
    renamed = {**test[0], "sample_id": f"fresh-{test[0]['sample_id']}",
               "action_chosen": test[0]["action_rejected"], "action_rejected": test[0]["action_chosen"]}
    _rewrite(folder, "bfcl", "train", _records(folder, "bfcl", "train") + [renamed])
    with pytest.raises(data.DataError, match="1 training case.*history, tools and actions of a case in the test split"):
        splits.training_split("rebuilt", ["bfcl"])


def test_the_tools_offered_are_part_of_a_cases_content(build) -> None:
    """A step with another tool list (a withheld tool) is another step; the same tools listed in
    another order, or described in other words, are the same step."""
    test = _records(build, "bfcl", "test")
    tools = test[0]["functions"]
    assert isinstance(tools, list) and len(tools) > 1
    reordered = {**test[0], "sample_id": f"fresh-{test[0]['sample_id']}", "functions": tools[::-1]}
    _rewrite(build, "bfcl", "train", _records(build, "bfcl", "train") + [reordered])
    with pytest.raises(data.DataError, match="1 training case.*history, tools and actions of a case in the test split"):
        splits.training_split("rebuilt", ["bfcl"])
    reworded = {**reordered, "functions": [{**tool, "description": "other words"} for tool in tools]}
    _rewrite(build, "bfcl", "train", _records(build, "bfcl", "train")[:-1] + [reworded])
    with pytest.raises(data.DataError, match="1 training case"):  # the same tools, by name
        splits.training_split("rebuilt", ["bfcl"])
    fewer = {**reordered, "functions": tools[1:]}
    _rewrite(build, "bfcl", "train", _records(build, "bfcl", "train")[:-1] + [fewer])
    split = splits.training_split("rebuilt", ["bfcl"])
    assert split.describe()["cases_equal_to_test"] == {}


def test_official_training_cases_equal_to_test_cases_are_counted(data_env) -> None:
    from tests.fixture_data import RECORDS
    from tests.test_training import jsonl

    folder = Path(data_env["TOOLPRMBENCH_DATA_DIR"])
    (folder / "prmbench_bfcl_train.json").write_bytes(jsonl(RECORDS["bfcl"]()[:2]))
    try:
        split = splits.training_split("official", ["bfcl"])
    finally:
        (folder / "prmbench_bfcl_train.json").unlink()
    assert split.describe()["cases_equal_to_test"] == {"bfcl": 2}


# --------------------------------------------------------------------------- the two seeds (D5)


def test_train_seed_and_data_seed_are_separate(build, tmp_path: Path, monkeypatch, capsys) -> None:
    seen: dict[str, Any] = {}

    def fake(model: str, out: Path, **kwargs: Any) -> None:
        seen.update(kwargs)
        raise recipes.TrainingError("stopped")

    monkeypatch.setattr(recipes, "train_reward", fake)
    _refused(["train", "reward", "--model", "m", "--out", str(tmp_path / "o"), "--seed", "5"], capsys)
    assert (seen["seed"], seen["data_seed"]) == (5, 0)
    _refused(["train", "reward", "--model", "m", "--out", str(tmp_path / "o"), "--data-seed", "3"], capsys)
    assert (seen["seed"], seen["data_seed"]) == (0, 3)


def test_a_data_seed_that_is_not_the_named_folders_build_is_refused(build, tmp_path: Path, capsys) -> None:
    """TOOLPRMBENCH_REBUILT_DIR names a folder whatever --data-seed says: seed 7 was recorded while
    the seed-0 build's cases were exported and trained on."""
    manifest = json.loads((build / "manifest_tooltalk.json").read_text())
    (build / "manifest_tooltalk.json").write_text(json.dumps({**manifest, "seed": 0}))
    data.loaded._LOADED.clear()
    err = _refused(["export", "--format", "reward", "--subset", "tooltalk", "--data-seed", "7",
                    "--out", str(tmp_path / "o")], capsys)
    assert "the rebuilt data there is build seed 0, not the data seed 7 asked for" in err
    assert cli_main(["export", "--format", "reward", "--subset", "tooltalk", "--out", str(tmp_path / "o")]) == 0


def test_the_recipe_loads_the_build_of_data_seed(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("trl", reason="the recipe needs TRL first")
    asked: list[int] = []

    def split(data_kind: str, subsets: Any, seed: int) -> None:
        asked.append(seed)
        raise data.DataError("stopped")

    monkeypatch.setattr(recipes, "training_split", split)
    for run in (recipes.train_reward, recipes.train_grpo):
        with pytest.raises(data.DataError, match="stopped"):
            run("m", tmp_path / "o", device="cpu", seed=7, data_seed=2)
    assert asked == [2, 2]


# --------------------------------------------------------------------------- pairs and repeats (D7, duplicates)


def test_a_pair_equal_after_normalising_is_left_out_and_counted(build, tmp_path: Path) -> None:
    folder = build
    train = _records(folder, "bfcl", "train")
    chosen = train[0]["action_chosen"]
    assert isinstance(chosen, dict) and len(chosen) > 1
    train[0]["action_rejected"] = dict(reversed(list(chosen.items())))  # the same call, keys in another order
    _rewrite(folder, "bfcl", "train", train)
    assert cli_main(["export", "--format", "reward", "--subset", "bfcl", "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / export.REPORT_NAME).read_text())
    assert report["skipped"] == {export.IDENTICAL: {"count": 1, "cases": ["bfcl-0000"]}}
    assert report["rows"] == len(train) - 1


def test_repeated_training_records_are_kept_and_counted(build, tmp_path: Path, capsys) -> None:
    folder = build
    train = _records(folder, "tooltalk", "train")
    _rewrite(folder, "tooltalk", "train", train + [train[0], train[0]])
    assert cli_main(["export", "--format", "sft", "--subset", "tooltalk", "--out", str(tmp_path / "o")]) == 0
    assert "2 row(s) repeat an earlier case" in capsys.readouterr().out
    report = json.loads((tmp_path / "o" / export.REPORT_NAME).read_text())
    first = f"tooltalk-{0:04d}"
    assert report["rows"] == len(train) + 2
    assert report["duplicates"] == {"count": 2, "cases": {f"tooltalk-{len(train):04d}": first,
                                                          f"tooltalk-{len(train) + 1:04d}": first}}
