"""Rebuilding cases: operators, execution checks, determinism, the difficulty audit, and the
rebuilt set through lm-eval and Inspect."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("bfcl_eval", reason="install with: pip install --no-deps bfcl-eval==2026.3.23 mpmath")
pytest.importorskip("tooltalk", reason="install with: pip install --no-deps nvidia-tooltalk==26.3")

from tests.helpers import cli, lm_eval_results, metric  # noqa: E402
from toolprm_tasks.cases import error_type_slug  # noqa: E402
from toolprm_tasks.rebuild import operators  # noqa: E402
from toolprm_tasks.rebuild.bfcl import SourceError, load_conversations  # noqa: E402
from toolprm_tasks.rebuild.bfcl_cases import decision_points, execution_check, state_values  # noqa: E402
from toolprm_tasks.rebuild.build import build  # noqa: E402
from toolprm_tasks.tool_calls import as_tool_calls, violations  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rebuilt")
    build(["bfcl", "tooltalk"], out, seed=0)
    return out


@pytest.fixture(scope="module")
def base0():
    conversation = next(c for c in load_conversations(("base",)) if c.id == "multi_turn_base_0")
    return conversation, decision_points(conversation)


def test_points_carry_the_real_history(base0) -> None:
    conversation, points = base0
    assert [p.gold["name"] for p in points[:3]] == ["cd", "mkdir", "mv"]
    third = points[2]
    assert [t["role"] for t in third.history] == ["user", "assistant", "tool", "assistant", "tool"]
    assert json.loads(third.history[2]["content"]) == {"current_working_directory": "document"}
    assert "cp" not in {f["name"] for f in third.functions}  # excluded_function, as the source says


def test_each_operator_yields_its_error_type_and_stays_schema_valid(base0) -> None:
    conversation, points = base0
    point = points[2]  # mv(source='final_report.pdf', destination='temp')
    point = replace(point, gold_calls=operators.gold_call_index(p.gold for p in points if not p.is_chat),
                    state_values=state_values(conversation, point))
    rng = random.Random(0)
    for name, expected in ((operators.wrong_params, "wrong_params"), (operators.wrong_tool, "wrong_tool"),
                           (operators.should_call, "should_call")):
        proposals = name(point, rng)
        assert proposals, name
        for proposal in proposals:
            assert error_type_slug(proposal.error_type) == expected
            assert proposal.action != point.gold
            if expected == "should_call":
                assert isinstance(proposal.action, str) and as_tool_calls(proposal.action) is None
            else:
                assert violations(proposal.action, point.functions) == 0, proposal
        if expected == "wrong_params":
            assert all(p.action["name"] == "mv" for p in proposals)
            # the document folder of the initial state holds previous_report.pdf: a wrong source
            assert "previous_report.pdf" in {p.action["parameters"].get("source") for p in proposals}
        if expected == "wrong_tool":
            assert all(p.action["name"] != "mv" for p in proposals)


def test_execution_check_passes_and_fails_as_designed(base0) -> None:
    conversation, points = base0
    point = points[2]
    assert not execution_check(conversation, point, point.gold).passed  # same effect: not a real error
    missing = {"name": "mv", "parameters": {"source": "no_such_file.pdf", "destination": "temp"}}
    assert execution_check(conversation, point, missing).reason == "rejected call errors"
    other = {"name": "mkdir", "parameters": {"dir_name": "archive"}}
    assert execution_check(conversation, point, other).reason == "rejected call leads to a different state"
    assert execution_check(conversation, point, "Done!").reason == "reply where a call was due: no observation"


def test_build_is_byte_identical_for_the_same_seed(built: Path, tmp_path: Path) -> None:
    build(["bfcl", "tooltalk"], tmp_path, seed=0)
    for path in sorted(built.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    build(["tooltalk"], tmp_path / "other", seed=1)
    assert (tmp_path / "other" / "prmbench_rebuilt_tooltalk.json").read_bytes() != \
        (built / "prmbench_rebuilt_tooltalk.json").read_bytes()


def test_manifest_counts_checks_and_difficulty_audit(built: Path) -> None:
    for source, conversations in (("bfcl", 800), ("tooltalk", 78)):
        manifest = json.loads((built / f"manifest_{source}.json").read_text())
        records = json.loads((built / f"prmbench_rebuilt_{source}.json").read_text())
        assert manifest["cases"] == len(records)
        assert sum(manifest["by_error_type"].values()) == len(records)
        assert set(manifest["by_error_type"]) == {"wrong tool", "wrong params", "should chat but called a tool",
                                                  "should call a tool but chatted"}
        # the audit: no weight-free heuristic beats 60% on the built set
        assert all(acc <= 0.6 for acc in manifest["baseline_accuracy_both_orders"].values()), manifest
        failures = json.loads((built / f"check_failures_{source}.json").read_text())
        assert len(records) + len(failures) >= conversations  # every point is kept or reported
        for record in records:
            assert record["seed"] == 0 and record["sampling"].startswith("rule:")
            assert record["source_version"].startswith(("bfcl-eval==", "nvidia-tooltalk=="))
    bfcl = json.loads((built / "prmbench_rebuilt_bfcl.json").read_text())
    passed = sum(r["execution_check"]["passed"] for r in bfcl)
    assert passed / len(bfcl) >= 0.95


def test_malformed_source_data_is_reported(tmp_path: Path) -> None:
    (tmp_path / "possible_answer").mkdir()
    good = {"id": "multi_turn_base_0", "question": [[{"role": "user", "content": "hi"}]], "initial_config": {},
            "involved_classes": ["MathAPI"]}
    bad = {**good, "id": "multi_turn_base_1", "involved_classes": "MathAPI"}
    (tmp_path / "BFCL_v4_multi_turn_base.json").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    (tmp_path / "possible_answer" / "BFCL_v4_multi_turn_base.json").write_text(
        json.dumps({"id": "multi_turn_base_0", "ground_truth": [["mean(numbers=[1, 2])"]]}) + "\n"
        + json.dumps({"id": "multi_turn_base_1", "ground_truth": [[]]}) + "\n")
    with pytest.raises(SourceError, match=r"BFCL_v4_multi_turn_base.json: record 1: field 'involved_classes'"):
        load_conversations(("base",), root=tmp_path)


@pytest.mark.cli
def test_rebuilt_tasks_in_both_frameworks(built: Path, tmp_path: Path) -> None:
    env = {"TOOLPRMBENCH_REBUILT_DIR": str(built), "TOOLPRMBENCH_CACHE_DIR": str(tmp_path / "cache")}
    cli("lm_eval", "--model", "toolprm-baseline", "--model_args", "judge=first", "--tasks", "toolprmbench_rebuilt",
        "--metadata", '{"order": "both"}', "--output_path", str(tmp_path / "lm"), env=env)
    results = lm_eval_results(tmp_path / "lm")
    assert metric(results, "toolprmbench_rebuilt", "acc") == 0.5
    assert metric(results, "toolprmbench_rebuilt_bfcl", "consistency") == 0.0
    cli("inspect", "eval", "toolprm_tasks/tooltalk.py", "--model", "toolprm-baseline/first", "-T", "data=rebuilt",
        "--log-dir", str(tmp_path / "logs"), env=env, cwd=REPO)
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    records = json.loads((built / "prmbench_rebuilt_tooltalk.json").read_text())
    assert len(log.samples) == len(records) and log.eval.metadata["data"]["data"] == "rebuilt"


def test_build_command_line(tmp_path: Path, capsys) -> None:
    from toolprm_tasks.cli import main as cli_main

    assert cli_main(["build", "--source", "tooltalk", "--out", str(tmp_path), "--limit", "3"]) == 0
    assert "tooltalk:" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest_tooltalk.json").read_text())
    assert manifest["cases"] == len(json.loads((tmp_path / "prmbench_rebuilt_tooltalk.json").read_text())) > 0
    assert cli_main(["build", "--source", "tooltalk", "--out", str(tmp_path), "--sampling", "rule,vibes"]) != 0
    assert "unknown --sampling vibes" in capsys.readouterr().err
