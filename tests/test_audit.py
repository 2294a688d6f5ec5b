"""The artifact audit: its probes find a planted artifact, stay near chance without one, respect
clusters, are deterministic; its command line reads folders of data files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from toolprm_tasks import audit
from toolprm_tasks.core.cases import cases_from_records

TOOLS = ("move_file", "copy_file", "delete_file", "open_file", "find_file")
FILES = [f"{stem}_{n}.{ext}" for stem in ("report", "notes", "budget", "draft") for n in range(5) for ext in ("txt", "pdf")]
REPLIES = [f"{opening} {middle} {ending}" for opening in ("Sure.", "Okay,", "Right:", "Well,")
           for middle in ("the file is handled", "I looked at the folder", "that one is tricky")
           for ending in ("Anything else?", "Let me know.", "Shall I go on?")]
TYPES = ("wrong params", "wrong tool", "should call a tool but chatted", "should chat but called a tool")
FUNCTIONS = [{"name": t, "description": f"{t} a file", "parameters": {
    "type": "object", "properties": {"file_name": {"type": "string"}}, "required": ["file_name"]}} for t in TOOLS]


def _call(rng: random.Random, tool: str | None = None, file: str | None = None) -> dict:
    return {"name": tool or rng.choice(TOOLS), "parameters": {"file_name": file or rng.choice(FILES)}}


def _records(planted: bool, cases: int = 240, seed: int = 0) -> list[dict]:
    """Synthetic cases, two per cluster, the four error types in turn. Without `planted`,
    chosen and rejected are drawn from one distribution, so nothing but chance tells them
    apart (expected accuracy 50% for any history-free rule). With it, every rejected file
    name ends in `_old` and every rejected reply is one of two fixed sentences."""
    rng = random.Random(seed)
    out = []
    for i in range(cases):
        error_type = TYPES[i % 4]
        chosen_call = _call(rng)
        if error_type == "wrong params":
            chosen, rejected = chosen_call, _call(rng, tool=chosen_call["name"])
        elif error_type == "wrong tool":
            chosen, rejected = chosen_call, _call(rng, file=chosen_call["parameters"]["file_name"])
        elif error_type == "should call a tool but chatted":
            chosen, rejected = chosen_call, rng.choice(REPLIES)
        else:
            chosen, rejected = rng.choice(REPLIES), _call(rng)
        if planted:
            if isinstance(rejected, dict):
                stem, ext = rejected["parameters"]["file_name"].rsplit(".", 1)
                rejected = {**rejected, "parameters": {"file_name": f"{stem}_old.{ext}"}}
            else:
                rejected = rng.choice(["Done!", "All set."])
        out.append({"history": [{"role": "user", "content": f"task {i // 2}"}], "functions": FUNCTIONS,
                    "action_chosen": chosen, "action_rejected": rejected, "error type": error_type,
                    "sample_id": f"task-{i // 2}"})
    return out


@pytest.fixture(scope="module")
def null_report() -> dict:
    return audit.audit_records(_records(planted=False), "bfcl")


@pytest.fixture(scope="module")
def planted_report() -> dict:
    return audit.audit_records(_records(planted=True), "bfcl")


def test_probes_find_a_planted_artifact(planted_report: dict) -> None:
    for probe in ("candidate_only", "candidate_pair"):
        result = planted_report["probes"][probe]
        assert result["overall"]["acc"] >= 0.9, probe
        for group in ("call_vs_reply", "wrong_params", "wrong_tool"):
            assert result["by_group"][group]["acc"] >= 0.9, (probe, group)
    assert planted_report["passed"] is False
    assert any(p.startswith("candidate_only overall") for p in planted_report["problems"])


def test_probes_stay_near_chance_without_an_artifact(null_report: dict) -> None:
    # labels are independent of the text: 50% expected; 240 cases give a standard error near
    # 3 points, so 12 points is four of them
    for probe in ("candidate_only", "candidate_pair"):
        assert abs(null_report["probes"][probe]["overall"]["acc"] - 0.5) <= 0.12, probe
    assert null_report["passed"] is True and null_report["problems"] == []
    # the call rule: 60 should-call and 60 should-chat cases, so exactly half of the pool
    assert null_report["judges"]["prefer_call"]["by_group"]["call_vs_reply"]["acc"] == 0.5
    assert null_report["judges"]["first"]["overall"]["acc"] == 0.5  # both orders: one each


def test_report_shape_intervals_and_groups(null_report: dict) -> None:
    assert null_report["cases"] == 240 and null_report["clusters"] == 120
    groups = null_report["probes"]["candidate_only"]["by_group"]
    assert {g: groups[g]["n"] for g in groups} == {"call_vs_reply": 120, "should_call": 60, "should_chat": 60,
                                                   "wrong_params": 60, "wrong_tool": 60}
    for probe in null_report["probes"].values():
        low, high = probe["overall"]["ci95"]
        assert low <= probe["overall"]["acc"] <= high
        assert probe["repeat_range"][0] <= probe["repeat_range"][1]


def test_a_weight_free_rule_counts_in_either_direction() -> None:
    records = _records(planted=False)
    for record in records:  # every rejected action padded: "longer" is always wrong
        if isinstance(record["action_rejected"], str):
            record["action_rejected"] += " " + "x" * 400
        else:
            record["action_rejected"]["parameters"]["file_name"] += "-" * 400
    report = audit.audit_records(records, "bfcl", repeats=1)
    assert report["judges"]["longer"]["overall"]["acc"] == 0.0
    assert any(p.startswith("judge longer overall") and "inverse" in p for p in report["problems"])


def test_audit_is_deterministic() -> None:
    records = _records(planted=False, cases=80)
    assert audit.audit_records(records, "bfcl") == audit.audit_records(json.loads(json.dumps(records)), "bfcl")


def test_folds_keep_clusters_whole() -> None:
    cases = cases_from_records(_records(planted=False, cases=60), subset="bfcl", source="synthetic")
    folds = audit._folds(cases, 5, random.Random(0))
    assert sorted(i for fold in folds for i in fold) == list(range(60))
    where = {}
    for number, fold in enumerate(folds):
        for i in fold:
            assert where.setdefault(cases[i].cluster, number) == number


def test_cluster_bootstrap_by_hand() -> None:
    # two clusters of two cases: resampling whole clusters gives means 0, 0.5 or 1
    low, high = audit.cluster_bootstrap([1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b"], resamples=400)
    assert (low, high) == (0.0, 1.0)
    assert audit.cluster_bootstrap([0.5] * 6, ["a", "b", "c", "a", "b", "c"]) == (0.5, 0.5)


def test_invalid_records_are_counted_not_audited() -> None:
    records = _records(planted=False, cases=40)
    records[3]["action_rejected"] = ""
    report = audit.audit_records(records, "bfcl", repeats=1)
    assert report["cases"] == 39 and report["invalid_records"]["count"] == 1
    assert "record 3: field 'action_rejected'" in report["invalid_records"]["first"][0]
    assert report["passed"] is False


def test_too_few_cases_get_figures_but_no_verdict() -> None:
    report = audit.audit_records(_records(planted=True, cases=6), "bfcl", repeats=1)
    assert report["passed"] is None and report["problems"] == []


def test_audit_command_reads_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from toolprm_tasks.cli import main as cli_main

    (tmp_path / "prmbench_rebuilt_bfcl.json").write_text(json.dumps(_records(planted=True, cases=80)))
    (tmp_path / "prmbench_tooltalk.json").write_text(json.dumps(_records(planted=False, cases=80)))
    assert cli_main(["audit", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["reports"]) == {"prmbench_rebuilt_bfcl.json", "prmbench_tooltalk.json"}
    assert out["reports"]["prmbench_rebuilt_bfcl.json"]["passed"] is False
    assert out["reports"]["prmbench_tooltalk.json"]["passed"] is True
    assert cli_main(["audit", str(tmp_path), "--strict"]) == 1
    text = capsys.readouterr().out
    assert "prmbench_rebuilt_bfcl.json: 80 cases in 40 clusters; FAILED" in text
    assert cli_main(["audit", str(tmp_path / "nothing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_audit_command_selects_subsets_and_tiers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--subset` narrows a folder's files and a packet's sources (a name without a file is
    reported, never dropped in silence); `--tier` audits one tier's cases (the records'
    difficulty field), reports a file without any, and samples a packet of that tier alone."""
    from toolprm_tasks.cli import main as cli_main

    records = _records(planted=False, cases=80)
    for i, record in enumerate(records):  # every other case hard (a relation of the hard tier)
        record["difficulty"] = {"operator": "op", "relation": "sibling_tool" if i % 2 else "false_refusal"}
    (tmp_path / "prmbench_rebuilt_bfcl.json").write_text(json.dumps(records))
    (tmp_path / "prmbench_rebuilt_tooltalk.json").write_text(json.dumps(_records(planted=False, cases=80, seed=1)))
    assert cli_main(["audit", str(tmp_path), "--subset", "bfcl", "gta", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["reports"]) == {"prmbench_rebuilt_bfcl.json"} and "no data file of gta" in out["unavailable"]["gta"]
    assert cli_main(["audit", str(tmp_path), "--tier", "hard", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["audited"].endswith("hard tier") and out["reports"]["prmbench_rebuilt_bfcl.json [hard tier]"]["cases"] == 40
    assert "no case of the hard tier" in out["unavailable"]["prmbench_rebuilt_tooltalk.json [hard tier]"]
    assert cli_main(["audit", str(tmp_path), "--subset", "gta"]) == 2
    assert "of --subset gta" in capsys.readouterr().err
    packet = tmp_path / "packet"
    assert cli_main(["audit", str(tmp_path), "--packet", str(tmp_path / "hard"), "--tier", "hard", "--per-type", "50",
                     "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    key = json.loads((tmp_path / "hard-key.json").read_text())["items"]
    # every hard case of bfcl (odd indexes) and none of tooltalk's (no difficulty field: standard)
    assert summary["tier"] == "hard" and summary["by_tier"] == {"hard": 40} and summary["by_source"] == {"bfcl": 40}
    assert sorted(v["record"] for v in key.values()) == list(range(1, 80, 2))
    assert cli_main(["audit", str(tmp_path), "--packet", str(tmp_path / "h2"), "--tier", "hard",
                     "--subset", "tooltalk"]) == 2
    assert "no case of the hard tier" in capsys.readouterr().err
    # a score reports every tier of its packet: --tier there would be ignored, so it is refused
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"item": "R01", "choice": "Action1", "verdict": "clear"}) + "\n")
    assert cli_main(["audit", "--score-packet", str(tmp_path / "hard"), "--answers", str(answers), "--tier", "hard"]) == 2
    assert "--tier chooses the cases of a packet being written" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: a packet of no case per type is no packet
        cli_main(["audit", str(tmp_path), "--packet", str(tmp_path / "h3"), "--per-type", "0"])
    assert "must be at least 1" in capsys.readouterr().err
    assert cli_main(["audit", str(tmp_path), "--packet", str(packet), "--subset", "tooltalk", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["by_source"] == {"tooltalk": 40}
    assert cli_main(["audit", str(tmp_path), "--packet", str(tmp_path / "p2"), "--subset", "tooltalk", "gta"]) == 2
    assert "of --subset gta" in capsys.readouterr().err


def test_audit_command_reads_the_official_files(data_env, case_counts: dict[str, int],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from toolprm_tasks.cli import main as cli_main

    # the release-format fixture through TOOLPRMBENCH_DATA_DIR, as on a machine with the files
    assert cli_main(["audit", "--data", "official", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["audited"] == "the paper's release"
    audited = {name.split(" ")[0]: report["cases"] for name, report in out["reports"].items()}
    assert audited == case_counts and out["unavailable"] == {}  # all four files, every case


def test_the_grounding_judge_is_held_to_each_error_type() -> None:
    """A set whose wrong params take a file the conversation never names: the history-aware
    grounding judge solves that type, and the audit says so (65% per type)."""
    records = _records(planted=False)
    for record in records:
        chosen = record["action_chosen"]
        if record["error type"] == "wrong params":  # the user names the right file; the wrong one is foreign
            record["history"] = [{"role": "user", "content": f"please take {chosen['parameters']['file_name']}"}]
    report = audit.audit_records(records, "bfcl", repeats=1)
    result = report["judges"]["grounding"]["by_group"]["wrong_params"]
    assert result["acc"] > 0.95  # (a wrong file drawn equal to the right one is a tie)
    assert any(p.startswith("judge grounding wrong_params") for p in report["problems"])
    assert report["passed"] is False
    # the other weight-free judges are judged overall only: no per-type verdict for them
    assert not any(p.startswith("judge longer wrong") for p in report["problems"])
