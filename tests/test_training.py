"""Training data and the GRPO reward, without TRL: the official training files (pinned like
ToolSandbox's test file), the rebuilt training split (disjoint from the test split by cluster),
the export to TRL's formats, the reward function on hostile answers, and the rendering the
reward recipe trains on (the engines' own)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_data import RECORDS
from tests.test_data import server  # noqa: F401 - the loopback mirror fixture
from tests.test_hostile_answers import HOSTILE
from toolprm_tasks import data
from toolprm_tasks.cli import main as cli_main
from toolprm_tasks.core.cases import cases_from_records
from toolprm_tasks.training import export, splits
from toolprm_tasks.training.reward import LABELS, completion_text, toolprm_reward

# --------------------------------------------------------------------------- fixture builds


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def write_rebuilt_split(folder: Path, subsets: tuple[str, ...] = ("bfcl", "tooltalk"), *,
                        test_clusters: dict[str, set[str]] | None = None, copies: int = 1) -> dict[str, Any]:
    """A build folder as the issue-19 contract describes it, from the fixture records: whole
    clusters (sample_id) to train or test (default: every other cluster in sorted order);
    `copies` repeats the training records with a marker so a recipe has more rows."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for subset in subsets:
        records = RECORDS[subset]()
        clusters = sorted({r["sample_id"] for r in records})
        chosen_test = (test_clusters or {}).get(subset, set(clusters[1::2]))
        test = [r for r in records if r["sample_id"] in chosen_test]
        train = [r for r in records if r["sample_id"] not in chosen_test]
        train = [{**r, "history": [*r["history"][:-1], {**r["history"][-1],
                                                        "content": r["history"][-1]["content"] + " " * i}]}
                 for i in range(copies) for r in train]
        names = {"test": f"prmbench_rebuilt_{subset}.json", "train": f"prmbench_rebuilt_{subset}_train.json"}
        bodies = {"test": json.dumps(test, ensure_ascii=False).encode(), "train": json.dumps(train).encode()}
        for split, name in names.items():
            (folder / name).write_bytes(bodies[split])

        def cluster_names(rows: list[dict[str, Any]], subset: str = subset) -> list[str]:
            return sorted({f"{subset}/{r['sample_id']}" for r in rows})

        manifest = {"cases": len(test), "files": {names[s]: hashlib.sha256(bodies[s]).hexdigest() for s in names},
                    "splits": {"test": {"clusters": cluster_names(test), "cases": len(test)},
                               "train": {"clusters": cluster_names(train), "cases": len(train)}}}
        (folder / f"manifest_{subset}.json").write_text(json.dumps(manifest), encoding="utf-8")
        made[subset] = {"test": len(test), "train": len(train), "test_clusters": cluster_names(test)}
    return made


@pytest.fixture
def rebuilt_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / "rebuilt"
    made = write_rebuilt_split(folder)
    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(folder))
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return folder, made


# --------------------------------------------------------------------------- official training files

def _train_pin(cases: int = 2) -> data.PinnedFile:
    return data.PinnedFile("bfcl", "prmbench_bfcl_train.json", cases, None, None)


TRAIN_BODY = jsonl(RECORDS["bfcl"]()[:2])
TRAIN_OTHER = jsonl(RECORDS["bfcl"]()[2:4])


def test_the_release_training_files_are_pinned_by_commit_and_count() -> None:
    assert {s: (p.filename, p.cases, p.sha256) for s, p in data.PINNED_TRAIN_FILES.items()} == {
        "bfcl": ("prmbench_bfcl_train.json", 243, None),
        "toolsandbox": ("prmbench_ToolSandbox_train.json", 299, None)}
    with pytest.raises(data.DataError, match="no training file for 'gta'.*bfcl, toolsandbox"):
        data.load_subset("gta", split="train")
    with pytest.raises(ValueError, match="unknown split"):
        data.load_subset("bfcl", split="dev")


def test_training_file_downloaded_verified_and_trusted_on_first_use(server, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    server.body = TRAIN_BODY
    monkeypatch.setitem(data.PINNED_TRAIN_FILES, "bfcl", _train_pin())
    loaded = data.load_subset("bfcl", split="train")
    assert (loaded.path.name, len(loaded.cases), loaded.verified, loaded.unpinned) == \
        ("prmbench_bfcl_train.json", 2, False, False)
    assert loaded.cases[1].chosen == RECORDS["bfcl"]()[1]["action_chosen"]
    record = json.loads((tmp_path / "cache" / "prmbench_bfcl_train.json.first-use.json").read_text())
    assert record["sha256"] == hashlib.sha256(TRAIN_BODY).hexdigest() and record["records"] == 2
    # the test file of the same subset is another pin: never confused with the training file
    assert data.pinned_file("bfcl", "test").filename == "prmbench_bfcl.json"
    # damaged cache, and the mirror now serves another valid file: refused
    (tmp_path / "cache" / "prmbench_bfcl_train.json").write_bytes(b"")
    server.body = TRAIN_OTHER
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    with pytest.raises(data.DataError, match="first used"):
        data.load_subset("bfcl", split="train")


@pytest.mark.parametrize("body, reason", [
    (TRAIN_BODY + TRAIN_BODY[: TRAIN_BODY.index(b"\n") + 1], "3 records, the release has 2"),
    (TRAIN_BODY.replace(b'"history": [', b'"history": 7, "x": [', 1), r"record 0: field 'history'"),
    (TRAIN_BODY + b"{broken\n", r"record 2: line 3 column \d+: not valid JSON"),
])
def test_a_bad_training_file_is_refused_with_file_record_and_field(server, tmp_path: Path, monkeypatch,  # noqa: F811
                                                                   body: bytes, reason: str) -> None:
    server.body = body
    monkeypatch.setitem(data.PINNED_TRAIN_FILES, "bfcl", _train_pin())
    with pytest.raises(data.DataError, match=reason):
        data.load_subset("bfcl", split="train")
    assert not (tmp_path / "cache" / "prmbench_bfcl_train.json").exists()


def test_a_local_training_file_is_validated_like_the_test_files(tmp_path: Path, monkeypatch) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "prmbench_bfcl_train.json").write_bytes(TRAIN_BODY)
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(local))
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TOOLPRMBENCH_ALLOW_UNPINNED", raising=False)
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    monkeypatch.setitem(data.PINNED_TRAIN_FILES, "bfcl", _train_pin())
    assert len(data.load_subset("bfcl", split="train").cases) == 2
    assert json.loads((tmp_path / "cache" / "prmbench_bfcl_train.json.first-use.json").read_text())["source"] == \
        str(local / "prmbench_bfcl_train.json")
    (local / "prmbench_bfcl_train.json").write_bytes(TRAIN_OTHER)  # a later copy that differs
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    with pytest.raises(data.DataError, match="first used"):
        data.load_subset("bfcl", split="train")
    monkeypatch.setitem(data.PINNED_TRAIN_FILES, "bfcl", _train_pin(243))  # the real count
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    (local / "prmbench_bfcl_train.json").write_bytes(TRAIN_BODY)
    with pytest.raises(data.DataError, match="2 records, the release has 243"):
        data.load_subset("bfcl", split="train")


# --------------------------------------------------------------------------- the rebuilt training split

def test_rebuilt_training_split_shares_no_cluster_with_the_test_split(rebuilt_split) -> None:
    _, made = rebuilt_split
    split = splits.training_split("rebuilt")
    assert [(item.subset, len(item.cases)) for item in split.train] == [(s, made[s]["train"]) for s in made]
    assert [(item.subset, len(item.cases)) for item in split.test] == [(s, made[s]["test"]) for s in made]
    for train, test in zip(split.train, split.test, strict=True):
        train_clusters, test_clusters = {c.cluster for c in train.cases}, {c.cluster for c in test.cases}
        assert train_clusters and test_clusters and not train_clusters & test_clusters
        assert sorted(test_clusters) == made[train.subset]["test_clusters"]
    described = split.describe()
    assert described["train"]["bfcl"]["file"] == "prmbench_rebuilt_bfcl_train.json"
    assert described["clusters_shared_with_test"] == {}


def test_a_cluster_in_both_splits_is_refused(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "rebuilt"
    write_rebuilt_split(folder, ("tooltalk",), test_clusters={"tooltalk": {"tt-2", "tt-3"}})
    # a build that put one of tt-1's cases into the test file as well
    train = json.loads((folder / "prmbench_rebuilt_tooltalk_train.json").read_text())
    test = json.loads((folder / "prmbench_rebuilt_tooltalk.json").read_text()) + [train[0]]
    body = json.dumps(test).encode()
    (folder / "prmbench_rebuilt_tooltalk.json").write_bytes(body)
    manifest = json.loads((folder / "manifest_tooltalk.json").read_text())
    manifest["files"]["prmbench_rebuilt_tooltalk.json"] = hashlib.sha256(body).hexdigest()
    manifest["cases"] = manifest["splits"]["test"]["cases"] = len(test)
    (folder / "manifest_tooltalk.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(folder))
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    with pytest.raises(data.DataError, match="1 conversation cluster.*tooltalk/tt-1"):
        splits.training_split("rebuilt", ["tooltalk"])


@pytest.mark.parametrize("damage, says", [
    (lambda f, m: (f / "prmbench_rebuilt_bfcl_train.json").write_text("[]"), "does not match its manifest"),
    (lambda f, m: m["splits"]["train"].update(cases=99), "its manifest says 99"),
    (lambda f, m: m["splits"]["train"].pop("cases"), r"field 'splits.train.cases' is not a record count"),
    (lambda f, m: m.pop("splits"), "no `splits.train`"),
    (lambda f, m: m["splits"]["test"]["clusters"].append(m["splits"]["train"]["clusters"][0]), "under both splits"),
    (lambda f, m: (f / "prmbench_rebuilt_bfcl_train.json").unlink(), "no training split for bfcl"),
])
def test_a_damaged_or_inconsistent_build_is_refused(rebuilt_split, damage, says: str) -> None:
    folder, _ = rebuilt_split
    manifest = json.loads((folder / "manifest_bfcl.json").read_text())
    damage(folder, manifest)
    (folder / "manifest_bfcl.json").write_text(json.dumps(manifest))
    with pytest.raises(data.DataError, match=says):
        splits.training_split("rebuilt", ["bfcl"])


def test_official_training_split_reports_clusters_shared_with_the_test_file(data_env, tmp_path: Path,
                                                                            monkeypatch) -> None:
    folder = Path(data_env["TOOLPRMBENCH_DATA_DIR"])
    records = RECORDS["bfcl"]()
    (folder / "prmbench_bfcl_train.json").write_bytes(jsonl(records[:3]))  # multi_turn_base_0 and _7 are test clusters
    try:
        split = splits.training_split("official", ["bfcl"])
    finally:
        (folder / "prmbench_bfcl_train.json").unlink()
    assert split.shared_clusters == {"bfcl": ["bfcl/multi_turn_base_0", "bfcl/multi_turn_base_7"]}
    assert split.describe()["clusters_shared_with_test"] == {"bfcl": 2}


# --------------------------------------------------------------------------- export

def _cases(subset: str = "tooltalk") -> list:
    return cases_from_records(RECORDS[subset](), subset=subset, source=subset)


def test_reward_rows_are_the_classifier_engines_messages() -> None:
    from toolprm_tasks.engines.base import PromptFormat, ScoreRequest, messages_for

    cases = _cases("bfcl") + _cases("tooltalk")
    rows = export.reward_rows(cases)
    assert len(rows.rows) == len(cases) and not rows.skipped
    for row, case in zip(rows.rows, cases, strict=True):
        for side, action in (("chosen", case.chosen), ("rejected", case.rejected)):
            expected = messages_for("classifier", ScoreRequest(case.history, case.functions, action), case.history,
                                    PromptFormat())
            assert row["prompt"] + row[side] == expected
        assert (row["case_id"], row["cluster"], row["error_type"]) == (case.id, case.cluster, case.error_type)


def test_grpo_rows_name_the_chosen_action_by_its_label_in_a_seeded_balanced_order() -> None:
    from toolprm_tasks.core.render import render_action

    cases = _cases("bfcl") + _cases("tooltalk")
    rows = export.grpo_rows(cases, seed=3).rows
    assert rows == export.grpo_rows(cases, seed=3).rows  # seeded
    for row in rows:
        case = next(c for c in cases if c.id == row["case_id"])
        text = row["prompt"][0]["content"]
        shown = text.split("## action_1: ", 1)[1].split("\n## action_2: ")
        first, second = shown[0], shown[1].split("\nPlease only generate")[0]
        chosen_at = 1 if first == render_action(case.chosen) else 2
        assert (first, second)[2 - chosen_at] == render_action(case.rejected)
        assert row["chosen_position"] == chosen_at and row["answer"] == f"action_{chosen_at}"
    per_subset = Counter((r["subset"], r["chosen_position"]) for r in rows)
    assert abs(per_subset[("bfcl", 1)] - per_subset[("bfcl", 2)]) <= 1
    assert abs(per_subset[("tooltalk", 1)] - per_subset[("tooltalk", 2)]) <= 1


def test_sft_rows_carry_the_rationale_where_the_record_has_one() -> None:
    from scorers.core import parse_pairwise_answer

    cases = _cases("gta")  # gta-0000 has a rationale
    rows = export.sft_rows(cases).rows
    with_rationale = [r for r in rows if r["has_rationale"]]
    assert [r["case_id"] for r in with_rationale] == ["gta-0000"]
    answer = json.loads(with_rationale[0]["completion"][0]["content"])
    assert answer == {"rationale": "text is needed", "winning_action": with_rationale[0]["answer"]}
    for row in rows:  # every SFT answer is one the benchmark's parser reads as the chosen action
        assert parse_pairwise_answer(row["completion"][0]["content"]).pick == row["chosen_position"]


def test_a_case_without_a_preference_is_left_out_and_counted() -> None:
    records = RECORDS["tooltalk"]()
    records[1]["action_rejected"] = records[1]["action_chosen"]
    cases = cases_from_records(records, subset="tooltalk", source="t")
    for fmt in export.FORMATS:
        rows = export.build_rows(fmt, cases)
        assert len(rows.rows) == len(cases) - 1
        assert rows.summary()["skipped"] == {export.IDENTICAL:
                                             {"count": 1, "cases": ["tooltalk-0001"]}}


def test_export_command_writes_a_dataset_and_its_report(rebuilt_split, tmp_path: Path, capsys) -> None:
    from datasets import load_from_disk

    _, made = rebuilt_split
    out = tmp_path / "pairs"
    assert cli_main(["export", "--format", "reward", "--split", "train", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == str(out)
    dataset = load_from_disk(str(out))
    assert len(dataset) == sum(m["train"] for m in made.values())
    assert set(dataset.column_names) >= {"prompt", "chosen", "rejected", "case_id", "cluster"}
    assert dataset[0]["prompt"][0]["role"] == "user" and dataset[0]["chosen"][0]["role"] == "assistant"
    report = json.loads((out / export.REPORT_NAME).read_text())
    assert report["rows"] == len(dataset) and report["split"] == "train"
    assert report["files"]["bfcl"]["file"] == "prmbench_rebuilt_bfcl_train.json"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
    # an occupied folder is never written over
    assert cli_main(["export", "--format", "grpo", "--out", str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_export_of_the_official_training_files(data_env, capsys, tmp_path: Path) -> None:
    from datasets import load_from_disk

    folder = Path(data_env["TOOLPRMBENCH_DATA_DIR"])
    (folder / "prmbench_ToolSandbox_train.json").write_bytes(jsonl(RECORDS["toolsandbox"]()))
    try:
        assert cli_main(["export", "--format", "grpo", "--data", "official", "--subset", "toolsandbox",
                         "--out", str(tmp_path / "g")]) == 0
    finally:
        (folder / "prmbench_ToolSandbox_train.json").unlink()
    dataset = load_from_disk(str(tmp_path / "g"))
    assert len(dataset) == 3 and set(dataset["answer"]) <= set(LABELS)


# --------------------------------------------------------------------------- the GRPO reward


def _parametrize_list(test: Any) -> list[Any]:
    """The cases of another test module's parametrize mark (the parser's own lists)."""
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    return list(mark.args[1])


def _hostile_answers() -> list[str]:
    from tests import test_answer_parser as parser_tests

    misread = [text for text, how in _parametrize_list(parser_tests.test_answers_misread_before) if how != "cue"]
    degenerate = _parametrize_list(parser_tests.test_degenerate_answers_never_raise)
    ours = ["action_1 or action_2", "<think>action_1", "action_1</think>", "action_2 is wrong. action_1 is wrong.",
            '{"winning_action": "action_1", "answer": "action_2"}', "", "   "]
    return [*misread, *degenerate, *HOSTILE, *ours]


@pytest.mark.parametrize("text", _hostile_answers())
def test_every_hostile_answer_earns_no_reward(text: str) -> None:
    assert toolprm_reward(prompts=["p", "p"], completions=[text, text], completion_ids=[[1], [1]],
                          trainer_state=None, answer=list(LABELS)) == [0.0, 0.0]


@pytest.mark.parametrize("text, pick", [
    ("action_1", 1), ("<think>action_2 looks wrong. Hmm.</think>\naction_1", 1), ("<think>x</think> action_2", 2),
    ('<think>r</think>{"rationale": "r", "winning_action": "action_2"}', 2), ("**action_2**", 2),
    ("The correct step is action_1.", 1),
])
def test_the_papers_reward_for_an_answer_after_the_reasoning(text: str, pick: int) -> None:
    other = 3 - pick
    logged: list[tuple[str, float]] = []
    rewards = toolprm_reward(prompts=["p"] * 3, completions=[text, text, [{"role": "assistant", "content": text}]],
                             completion_ids=[[1]] * 3, trainer_state=None,
                             answer=[f"action_{pick}", f"action_{other}", f"action_{pick}"], extra_column=[0, 0, 0],
                             log_metric=lambda name, value: logged.append((name, value)))
    assert rewards == [1.0, 0.0, 1.0]
    assert logged == [("parse_fail", 0.0)]


def test_the_reward_refuses_a_broken_label_column_and_reads_conversational_completions() -> None:
    with pytest.raises(ValueError, match="completion 1: expected one of"):
        toolprm_reward(completions=["action_1", "action_1"], answer=["action_1", "Action1"])
    with pytest.raises(ValueError, match="needs `completions` and the dataset column `answer`"):
        toolprm_reward(completions=["action_1"])
    assert completion_text([{"role": "assistant", "content": "x"}]) == "x"
    assert completion_text([{"role": "assistant", "content": None}]) is None
    assert toolprm_reward(completions=[None, 7, [{"role": "assistant"}]], answer=[1, 2, 1]) == [0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- rendering for the reward recipe


def test_the_plain_chat_template_is_the_engines_rendering_without_a_template(tiny_llama: Path) -> None:
    from transformers import AutoTokenizer

    from toolprm_tasks.engines.base import render_plain
    from toolprm_tasks.training.recipes import PLAIN_CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    assert not tokenizer.chat_template
    messages = [{"role": "user", "content": "a\nb"}, {"role": "assistant", "content": '{"x": 1}'}]
    for generation in (False, True):
        for shown in (messages, messages[:1]):
            assert tokenizer.apply_chat_template(shown, tokenize=False, add_generation_prompt=generation,
                                                 chat_template=PLAIN_CHAT_TEMPLATE) == render_plain(shown, generation)


def test_pairs_are_the_hf_engines_token_ids_and_a_cut_keeps_the_candidate(tiny_classifier: Path) -> None:
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.hf import HFEngine
    from toolprm_tasks.training.recipes import fit_candidate, load_tokenizer, tokenized_pairs

    cases = _cases("bfcl")
    tokenizer, changes = load_tokenizer(str(tiny_classifier))
    assert changes and "PLAIN_CHAT_TEMPLATE" in changes[0]
    rows = export.reward_rows(cases)
    pairs, fitting = tokenized_pairs(rows, {c.id: c for c in cases}, tokenizer, 4096)
    assert fitting == {"bfcl": {"whole": len(cases)}}
    engine = HFEngine(str(tiny_classifier), "classifier")  # the tokenizer as saved: no template, plain rendering
    for pair, case in zip(pairs, cases, strict=True):
        for side, action in (("chosen_ids", case.chosen), ("rejected_ids", case.rejected)):
            text, _ = engine.prompt_for(ScoreRequest(case.history, case.functions, action))
            assert pair[side] == tokenizer(text, add_special_tokens=False)["input_ids"]
    # a budget below the shortest history: the start is cut, the candidate's tokens stay last
    from toolprm_tasks.training.recipes import _Renderer

    case = cases[1]
    renderer = _Renderer(tokenizer, "classifier", 24)
    ids, how = fit_candidate(renderer, case, case.rejected)
    full, _ = fit_candidate(_Renderer(tokenizer, "classifier", 4096), case, case.rejected)
    assert how == "cut_at_start" and len(ids) == 24 and ids == full[-24:]
    shortened = fit_candidate(_Renderer(tokenizer, "classifier", len(full) - 1), case, case.rejected)
    assert shortened[1] == "history_shortened" and len(shortened[0]) < len(full)
