"""Rebuilding cases: decision points, written replies, operators, execution checks,
determinism, the artifact audit in the manifest, and the rebuilt set through lm-eval and
Inspect."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("bfcl_eval", reason="install with: pip install --no-deps bfcl-eval==2026.3.23 mpmath")
pytest.importorskip("tooltalk", reason="install with: pip install --no-deps nvidia-tooltalk==26.3")

from tests.helpers import cli, lm_eval_results, metric  # noqa: E402
from toolprm_tasks.core.cases import error_type_slug  # noqa: E402
from toolprm_tasks.core.tool_calls import as_tool_calls, violations  # noqa: E402
from toolprm_tasks.envs.bfcl import load_conversations  # noqa: E402
from toolprm_tasks.rebuild import operators, replies  # noqa: E402
from toolprm_tasks.rebuild.bfcl_points import decision_points, execution_check, state_values  # noqa: E402
from toolprm_tasks.rebuild.build import build  # noqa: E402
from toolprm_tasks.rebuild.errors import SourceError  # noqa: E402

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


def _ready(conversation, points):
    """The points as a build sees them: the source's gold calls attached."""
    pool = operators.gold_call_index(p.gold for p in points if not p.is_chat)
    return [replace(p, gold_calls=pool) for p in points]


def test_each_operator_yields_its_error_type_and_stays_schema_valid(base0) -> None:
    conversation, points = base0
    ready = _ready(conversation, points)
    point = ready[1]  # mkdir(dir_name='temp'), after cd(folder='document')
    rng = random.Random(0)
    for name, expected in ((operators.wrong_params, "wrong_params"), (operators.wrong_tool, "wrong_tool"),
                           (operators.should_call, "should_call")):
        for proposal in name(point, rng):
            assert error_type_slug(proposal.error_type) == expected or proposal.relation == "precondition"
            assert proposal.action != point.gold
            if expected == "should_call":
                assert isinstance(proposal.action, str) and as_tool_calls(proposal.action) is None
            else:
                assert violations(proposal.action, point.functions) == 0, proposal
    relations = {p.relation for p in operators.proposals_for(point, random.Random(0))}
    # a sibling of the file system, the first call's result reported as the answer, a false "no tool"
    assert {"sibling_tool", "early_answer", "false_refusal"} <= relations
    # at cd(folder='document'): the turn's later steps made first; only the one the environment
    # refuses is a skipped precondition (mv from the root: no such file there); mkdir works anywhere
    skipped = {p.action["name"]: p for p in operators.wrong_tool(ready[0], rng) if p.relation == "precondition"}
    assert skipped["mv"].action == {"name": "mv", "parameters": {"source": "final_report.pdf", "destination": "temp"}}
    assert all(p.needs_error for p in skipped.values())
    assert execution_check(conversation, ready[0], skipped["mv"].action).reason == "rejected call errors"
    assert execution_check(conversation, ready[0], skipped["mkdir"].action).reason != "rejected call errors"


@pytest.fixture(scope="module")
def misses():
    """miss_param_0 and miss_func_0: variants of base_0 where the user leaves out the file to
    move (turn 3), and where `sort` is withheld until turn 3 (asked for in turn 2)."""
    conversations = {c.id: c for c in load_conversations(("miss_param", "miss_func"))}
    return {name: (conversations[f"multi_turn_{name}_0"], decision_points(conversations[f"multi_turn_{name}_0"]))
            for name in ("miss_param", "miss_func")}


def test_points_follow_the_turns_with_a_report_after_each(base0) -> None:
    conversation, points = base0
    # base_0's gold turns have 3, 2, 1 and 4 calls: each followed by a report point
    expected = ["call"] * 3 + ["report"] + ["call"] * 2 + ["report"] + ["call"] + ["report"] + ["call"] * 4 + ["report"]
    assert [p.reply_kind or "call" for p in points] == expected
    report = points[3]
    assert report.turn_calls[-1] == {"name": "mv", "parameters": {"source": "final_report.pdf", "destination": "temp"}}
    assert "'final_report.pdf'" in report.gold and "'temp'" in report.gold  # names the action and its values
    assert report.call_hint == {"name": "cd", "parameters": {"folder": "temp"}}  # turn 1's first call: premature
    # the next point sees the report, then the user's next request
    assert [t["role"] for t in points[4].history[-2:]] == ["assistant", "user"]
    assert points[4].history[-2]["content"] == report.gold


def test_replies_name_what_is_missing(misses) -> None:
    _, points = misses["miss_param"]
    (ask,) = [p for p in points if p.reply_kind == replies.ASK]
    # "Move one of the file in document directory to temp": the next turn names the source
    # ("The specific file is previous_report.pdf."), which the request had named in another role
    assert ask.missing_params == ("source",) and ask.call_hint["name"] == "mv"
    assert "source" in ask.gold and ask.gold.endswith("?") and "previous_report.pdf" not in ask.gold
    _, points = misses["miss_func"]
    (unavailable,) = [p for p in points if p.reply_kind == replies.UNAVAILABLE]
    assert unavailable.missing == "sort" and "sort" not in {f["name"] for f in unavailable.functions}
    # the withheld tool's own description: "Sort the contents of a file line by line."
    assert "sort the contents of a file line by line" in unavailable.gold
    assert "'final_report.pdf'" in unavailable.gold
    assert unavailable.withheld_spec["name"] == "sort"


def test_should_chat_proposals_fit_why_a_reply_is_due(misses) -> None:
    conversation, points = misses["miss_func"]
    (point,) = [p for p in _ready(conversation, points) if p.reply_kind == replies.UNAVAILABLE]
    proposals = operators.proposals_for(point, random.Random(0))
    assert proposals and all(p.operator.startswith("substitute_call") and p.relation == "substitute_tool"
                             for p in proposals)
    offered = {f["name"] for f in point.functions}
    assert all(p.action["name"] in offered for p in proposals)  # never the withheld tool
    for p in proposals:
        assert error_type_slug(p.error_type) == "should_chat" and execution_check(conversation, point, p.action).passed
    # miss_param_0's only guess for the file to move is final_report.pdf, a move made before:
    # a repeated call is no guess, so the point takes no case
    conversation, points = misses["miss_param"]
    (point,) = [p for p in _ready(conversation, points) if p.reply_kind == replies.ASK]
    assert operators.proposals_for(point, random.Random(0)) == []


def test_guessed_calls_take_values_of_the_conversation() -> None:
    """On real miss_param conversations: the guessed call is the call the user's next turn
    makes possible, each missing value replaced by another value the history shows (never the
    one the user gives next), and it passes the execution check."""
    checked = 0
    for conversation in load_conversations(("miss_param",), limit=40):
        points = _ready(conversation, decision_points(conversation))
        for point in (p for p in points if p.reply_kind == replies.ASK):
            history = " ".join(json.dumps(t["content"]) if isinstance(t["content"], dict) else t["content"]
                               for t in point.history)
            for proposal in operators.guessed_calls(point, random.Random(0)):
                assert proposal.action["name"] == point.call_hint["name"] and proposal.relation == "grounded_guess"
                for param in point.missing_params:
                    guess, given = proposal.action["parameters"][param], point.call_hint["parameters"][param]
                    assert guess != given and str(guess).casefold() in history.casefold()
                assert execution_check(conversation, point, proposal.action).passed
                checked += 1
    assert checked >= 5


def test_generators_vary_with_the_seed_and_with_the_point(base0) -> None:
    conversation, points = base0
    calls = [p for p in _ready(conversation, points) if not p.is_chat]

    def first_reply(point, seed: int) -> str:
        return operators.should_call(point, random.Random(seed))[0].action

    # same point, ten seeds: different first replies (intent and wording are seeded)
    assert len({first_reply(calls[2], seed) for seed in range(10)}) >= 4
    # same point and seed: the same list (determinism)
    assert operators.proposals_for(calls[2], random.Random(3)) == operators.proposals_for(calls[2], random.Random(3))
    # the dealt intent only, where selection dealt one
    dealt = replace(calls[2], wrong_reply_intent=replies.REPORT)
    assert {p.relation for p in operators.should_call(dealt, random.Random(0))} == {"early_answer"}


def test_wrong_values_are_values_of_the_same_kind_never_tool_names(base0) -> None:
    conversation, points = base0
    pool = operators.gold_call_index(p.gold for p in points if not p.is_chat)
    tools = {f["name"] for f in points[0].functions}
    for point in (p for p in points if not p.is_chat):
        point = replace(point, gold_calls=pool, state_values=state_values(conversation, point))
        for proposal in operators.wrong_params(point, random.Random(0)):
            (name,) = [k for k, v in proposal.action["parameters"].items() if v != point.gold["parameters"][k]]
            value, gold = proposal.action["parameters"][name], point.gold["parameters"][name]
            assert value not in tools and value != "."
            assert operators.kind(value) == operators.kind(gold), (name, value, gold)


def test_execution_check_passes_and_fails_as_designed(base0) -> None:
    conversation, points = base0
    point = points[2]
    assert not execution_check(conversation, point, point.gold).passed  # same effect: not a real error
    missing = {"name": "mv", "parameters": {"source": "no_such_file.pdf", "destination": "temp"}}
    assert execution_check(conversation, point, missing).reason == "rejected call errors"
    other = {"name": "mkdir", "parameters": {"dir_name": "archive"}}
    assert execution_check(conversation, point, other).reason == "rejected call leads to a different state"
    assert execution_check(conversation, point, "Done!").reason == "reply where a call was due: no observation"


@pytest.mark.slow
def test_build_is_byte_identical_for_the_same_seed(built: Path, tmp_path: Path) -> None:
    build(["bfcl", "tooltalk"], tmp_path, seed=0)
    for path in sorted(built.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    build(["tooltalk"], tmp_path / "other", seed=1)
    assert (tmp_path / "other" / "prmbench_rebuilt_tooltalk.json").read_bytes() != \
        (built / "prmbench_rebuilt_tooltalk.json").read_bytes()


def _assert_artifact_free(audit: dict, records: list[dict], strict: bool) -> None:
    """The thresholds a rebuilt default set must meet (written out here, not read from the
    audit module): the history-free candidate-only probe <= 60% overall and <= 65% on
    call-against-reply cases pooled; the grounding judge <= 60% overall; replies balanced
    against calls. `strict` (BFCL, 600 test cases): the whole audit passes, both probes and
    every group, the grounding judge <= 65% on every error type."""
    assert audit["cases"] == len(records)
    only = audit["probes"]["candidate_only"]
    assert only["overall"]["acc"] <= 0.60 and only["by_group"]["call_vs_reply"]["acc"] <= 0.65
    assert audit["judges"]["grounding"]["overall"]["acc"] <= 0.60
    if strict:
        assert audit["passed"] is True and audit["problems"] == []
        for probe in ("candidate_only", "candidate_pair"):
            result = audit["probes"][probe]
            assert result["overall"]["acc"] <= 0.60, probe
            for group in ("call_vs_reply", "wrong_params", "wrong_tool"):
                assert result["by_group"][group]["acc"] <= 0.65, (probe, group)
        for group in ("wrong_params", "wrong_tool", "should_call", "should_chat"):
            assert audit["judges"]["grounding"]["by_group"][group]["acc"] <= 0.65, group
        assert 0.45 <= audit["judges"]["prefer_call"]["by_group"]["call_vs_reply"]["acc"] <= 0.55
    types = [r["error type"] for r in records]
    calls, chats = types.count("should call a tool but chatted"), types.count("should chat but called a tool")
    assert abs(calls - chats) <= 0.1 * (calls + chats)
    keys = [json.dumps([r["history"], r["action_chosen"], r["action_rejected"]], sort_keys=True) for r in records]
    assert len(set(keys)) == len(keys)  # no duplicates
    assert all(r["action_chosen"] != r["action_rejected"] for r in records)


@pytest.mark.slow
def test_manifest_counts_checks_and_artifact_audit(built: Path) -> None:
    from toolprm_tasks.rebuild.difficulty import RELATIONS, tier_of

    for source in ("bfcl", "tooltalk"):
        manifest = json.loads((built / f"manifest_{source}.json").read_text())
        records = json.loads((built / f"prmbench_rebuilt_{source}.json").read_text())
        train = json.loads((built / f"prmbench_rebuilt_{source}_train.json").read_text())
        assert manifest["cases"] == len(records) and manifest["splits"]["train"]["cases"] == len(train)
        assert sum(manifest["by_error_type"].values()) == len(records)
        assert set(manifest["by_error_type"]) == {"wrong tool", "wrong params", "should chat but called a tool",
                                                  "should call a tool but chatted"}
        baselines = manifest["baseline_accuracy_both_orders"]
        assert set(baselines) == {"random", "first", "longer", "schema", "grounding"}
        bound = 0.05 if source == "bfcl" else 0.10  # ToolTalk's test split is small (docs/rebuild.md)
        assert all(abs(baselines[j] - 0.5) <= bound for j in ("random", "first", "longer", "schema")), baselines
        _assert_artifact_free(manifest["audit"], records, strict=source == "bfcl")
        assert manifest["adversarial_filtering"] == {"applied": False, "dropped": 0}
        for record in records + train:
            assert record["seed"] == 0 and record["sampling"].startswith("rule:")
            assert record["source_version"].startswith(("bfcl-eval==", "nvidia-tooltalk=="))
            assert record["difficulty"]["relation"] in RELATIONS and record["difficulty"]["operator"]
        assert manifest["by_tier"] == dict(sorted(Counter(tier_of(r["difficulty"]) for r in records).items()))
        assert manifest["audit_by_tier"]["hard"]["cases"] == manifest["by_tier"]["hard"]
        if source == "bfcl":  # from build 12 (GROUNDED_SIDES) BFCL's hard tier passes its own audit too
            hard = manifest["audit_by_tier"]["hard"]  # (its replies need not balance its calls: a tier)
            assert hard["passed"] is True and hard["problems"] == []
            assert hard["cases"] == sum(tier_of(r["difficulty"]) == "hard" for r in records)
            for group in ("wrong_params", "wrong_tool", "should_call", "should_chat"):
                assert hard["judges"]["grounding"]["by_group"][group]["acc"] <= 0.65, group
            assert all(hard["probes"][probe]["overall"]["acc"] <= 0.60 for probe in ("candidate_only", "candidate_pair"))
    bfcl = json.loads((built / "prmbench_rebuilt_bfcl.json").read_text())
    bfcl_train = json.loads((built / "prmbench_rebuilt_bfcl_train.json").read_text())
    # a case is kept only when its execution check passed, and on the default build every one of
    # BFCL's 800 conversations gives a checked case, in the test or the training split
    assert all(r["execution_check"]["passed"] for r in bfcl + bfcl_train)
    assert len({r["source_id"] for r in bfcl + bfcl_train}) == 800
    assert len({r["source_id"] for r in bfcl}) == len(bfcl) == 600  # one per test conversation


@pytest.mark.slow
def test_no_cluster_crosses_the_splits(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolprm_tasks import data
    from toolprm_tasks.core.cases import cases_from_records

    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(built))
    for source in ("bfcl", "tooltalk"):
        manifest = json.loads((built / f"manifest_{source}.json").read_text())
        test, train = data.load_rebuilt(source), data.load_rebuilt(source, split="train")
        assert len(test.cases) == manifest["splits"]["test"]["cases"] and train.path.name.endswith("_train.json")
        clusters = {"test": {c.cluster for c in test.cases}, "train": {c.cluster for c in train.cases}}
        assert not clusters["test"] & clusters["train"]
        # the manifest's clusters are the cases' (Case.cluster less the subset prefix), whole
        for split in ("test", "train"):
            assert {c.split("/", 1)[1] for c in clusters[split]} <= set(manifest["splits"][split]["clusters"])
        assert not set(manifest["splits"]["test"]["clusters"]) & set(manifest["splits"]["train"]["clusters"])
        share = len(manifest["splits"]["train"]["clusters"]) / (len(manifest["splits"]["train"]["clusters"])
                                                               + len(manifest["splits"]["test"]["clusters"]))
        assert abs(share - 0.25) < 0.01
        # the training split takes more decision points per conversation than the test split
        per_test = len(test.cases) / len({c.provenance["source_id"] for c in test.cases})
        assert len(train.cases) / len({c.provenance["source_id"] for c in train.cases}) > per_test
        assert manifest["files"][train.path.name] == train.sha256
        cases_from_records(json.loads(train.path.read_text()), subset=source, source=train.path.name)
    with pytest.raises(ValueError, match="unknown split"):
        data.load_rebuilt("bfcl", split="dev")


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


def _write_bfcl(root: Path, category: str, rows: list[dict], answers: list[dict]) -> None:
    (root / "possible_answer").mkdir(exist_ok=True)
    name = f"BFCL_v4_multi_turn_{category}.json"
    (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "possible_answer" / name).write_text("".join(json.dumps(a) + "\n" for a in answers))


def test_turn_where_missed_functions_return_gets_bfcls_prompt(tmp_path: Path) -> None:
    # BFCL's harness sends this exact text on the (empty) turn that gives withheld tools back;
    # without it the history shows a refusal followed by an unprompted call
    row = {"id": "multi_turn_miss_func_0", "question": [[{"role": "user", "content": "mean of 1, 2"}], []],
           "initial_config": {}, "involved_classes": ["MathAPI"], "missed_function": {"1": ["mean"]}}
    _write_bfcl(tmp_path, "miss_func", [row],
                [{"id": "multi_turn_miss_func_0", "ground_truth": [[], ["mean(numbers=[1, 2])"]]}])
    (conversation,) = load_conversations(("miss_func",), root=tmp_path)
    assert conversation.turns[1] == [{"role": "user", "content": "I have updated some more functions you can "
                                                                 "choose from. What about now?"}]
    assert conversation.turns[0] == row["question"][0]
    # the decision points' histories carry it before the call the refusal withheld
    points = decision_points(conversation)
    call_point = next(p for p in points if not p.is_chat)
    assert call_point.history[-1]["role"] == "user" and "updated some more functions" in call_point.history[-1]["content"]


@pytest.mark.parametrize("missed, question, field", [
    ({"1": ["mean"]}, [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]], "question"),
    ({"5": ["mean"]}, [[{"role": "user", "content": "a"}], []], "missed_function"),
    (["mean"], [[{"role": "user", "content": "a"}], []], "missed_function"),
])
def test_malformed_missed_function_is_reported(tmp_path: Path, missed: object, question: list, field: str) -> None:
    row = {"id": "multi_turn_miss_func_0", "question": question, "initial_config": {},
           "involved_classes": ["MathAPI"], "missed_function": missed}
    _write_bfcl(tmp_path, "miss_func", [row], [{"id": "multi_turn_miss_func_0", "ground_truth": [[], []]}])
    with pytest.raises(SourceError, match=rf"BFCL_v4_multi_turn_miss_func.json: record 0: field '{field}'"):
        load_conversations(("miss_func",), root=tmp_path)


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


@pytest.mark.slow
def test_policy_cases_get_their_own_audit(tmp_path: Path) -> None:
    from inspect_ai.model import ModelOutput, get_model

    from toolprm_tasks.rebuild.build import Models

    # a policy that always answers with a reply: at call points a should-call case, at reply
    # points the same step as the gold (two replies), discarded
    def outputs(input, tools, tool_choice, config):  # noqa: A002 - Inspect's signature
        return ModelOutput.from_content(model="mockllm", content="I have finished everything you asked for.")

    policy = get_model("mockllm/model", custom_outputs=outputs)
    manifest = build(["bfcl"], tmp_path, models=Models(policy=policy, sampling=("rule", "policy")), limit=40)["bfcl"]
    records = json.loads((tmp_path / "prmbench_rebuilt_bfcl.json").read_text())
    by_method = {m: [r for r in records if r["sampling"].startswith(m + ":")] for m in ("rule", "policy")}
    assert set(manifest["audit_by_sampling"]) == {"rule", "policy"}
    for method, subset in by_method.items():
        assert manifest["audit_by_sampling"][method]["cases"] == len(subset) > 0
    assert all(r["error type"] == "should call a tool but chatted" for r in by_method["policy"])
    # one reply for every case: the probes learn it at once (an artifact of this policy)
    policy_audit = manifest["audit_by_sampling"]["policy"]
    assert policy_audit["probes"]["candidate_only"]["overall"]["acc"] >= 0.9
    assert manifest["audit"]["cases"] == len(records)


def _grounding_accuracy(records: list[dict]) -> float:
    """The grounding judge's accuracy in both orders, worked out here from its scores (a tie:
    the first shown is named, so right once in two)."""
    from toolprm_tasks.core.grounding import grounding_score

    total = 0.0
    for record in records:
        right = grounding_score(record["action_chosen"], record["history"])
        wrong = grounding_score(record["action_rejected"], record["history"])
        total += 1.0 if right > wrong else 0.0 if right < wrong else 0.5
    return total / len(records)


@pytest.mark.slow
def test_hard_tier_in_both_frameworks_gives_the_same_numbers(built: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_ai import eval as inspect_eval

    from tests.helpers import evaluate
    from toolprm_tasks.rebuild.difficulty import tier_of
    from toolprm_tasks.toolprmbench import toolprmbench

    monkeypatch.setenv("TOOLPRMBENCH_REBUILT_DIR", str(built))
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    expected = {}
    for source in ("bfcl", "tooltalk"):
        records = json.loads((built / f"prmbench_rebuilt_{source}.json").read_text())
        hard = [r for r in records if tier_of(r["difficulty"]) == "hard"]
        assert 0 < len(hard) < len(records)
        expected[source] = (_grounding_accuracy(hard), len(hard))
    lm = evaluate("toolprm-baseline", ["toolprmbench_rebuilt_hard"], metadata={"order": "both"},
                  model_args="judge=grounding")
    log = inspect_eval(toolprmbench(data="rebuilt", tier="hard", order="both"), model="toolprm-baseline/grounding",
                       log_dir=str(tmp_path / "logs"), display="none")[0]
    assert log.status == "success" and log.eval.task == "toolprmbench_rebuilt_hard"
    assert log.eval.metadata["tier"] == "hard"
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    for source, (acc, cases) in expected.items():
        lm_acc = lm["results"][f"toolprmbench_rebuilt_hard_{source}"]["acc,none"]
        assert lm_acc == pytest.approx(acc) == pytest.approx(metrics[f"acc_{source}"])
        assert lm["n-samples"][f"toolprmbench_rebuilt_hard_{source}"]["effective"] == 2 * cases
    assert sum(1 for s in log.samples) == 2 * sum(cases for _, cases in expected.values())
    # the tier comes from the task, never from --metadata
    with pytest.raises(ValueError, match="`tier` cannot be set with --metadata"):
        evaluate("toolprm-baseline", ["toolprmbench_rebuilt_bfcl"], metadata={"tier": "hard"},
                 model_args="judge=first")


def test_tier_needs_rebuilt_data() -> None:
    from toolprm_tasks.data import DataError, load_subsets

    with pytest.raises(DataError, match="tier=hard .* needs data=rebuilt"):
        load_subsets(["bfcl"], data="official", tier="hard")
    with pytest.raises(ValueError, match="unknown tier"):
        load_subsets(["bfcl"], data="rebuilt", tier="medium")


@pytest.mark.slow
def test_reading_packet_round_trip(built: Path, tmp_path: Path) -> None:
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    from toolprm_tasks import reading

    records = reading.records_of(built, ("bfcl", "tooltalk"))
    packet = tmp_path / "packet"
    summary = reading.write_packet(records, packet, per_type=10, seed=0)
    assert summary["items"] == 80 and summary["by_source"] == {"bfcl": 40, "tooltalk": 40}
    key = json.loads(reading.key_path(packet).read_text())
    assert not (packet / "packet-key.json").exists() and reading.key_path(packet).parent == tmp_path
    items = [json.loads(line) for line in (packet / reading.PACKET_FILE).read_text().splitlines()]
    # blind: history, tools and two actions, nothing else
    assert all(set(item) == {"item", "tools", "history", "Action1", "Action2"} for item in items)
    firsts = Counter(v["chosen"] for v in key["items"].values())
    assert 25 <= firsts["Action1"] <= 55  # the order is seeded, not always the chosen one first
    assert Counter(v["error_type"] for v in key["items"].values()) == {t: 20 for t in reading.ERROR_TYPES}
    # a perfect reader, with verdicts; one item left out; one answer unreadable
    answers = tmp_path / "answers.jsonl"
    lines = [{"item": item, "choice": truth["chosen"], "verdict": "clear" if i % 4 else "Ambiguous"}
             for i, (item, truth) in enumerate(sorted(key["items"].items()))]
    lines[1]["choice"] = "Action1 or Action2"
    answers.write_text("\n".join(json.dumps(x) for x in lines[:-1]) + "\n")
    report = reading.score(key, reading.load_answers(answers))
    assert report["overall"]["n"] == 80 and report["answered"] == 78
    assert report["overall"]["acc"] == pytest.approx(78 / 80)
    assert report["overall"]["verdicts"]["ambiguous"] == 20 and report["overall"]["verdicts"]["clear"] == 59
    assert {m["item"] for m in report["misses"]} == {lines[1]["item"], lines[-1]["item"]}
    assert set(report["by_tier"]) <= {"hard", "standard"} and report["by_source"]["bfcl"]["n"] == 40
    # a model reader through Inspect: always Action1, verdict clear
    def outputs(input, tools, tool_choice, config):  # noqa: A002 - Inspect's signature
        output = ModelOutput.from_content(model="mockllm", content='{"rationale": "r", "chosen action": "Action1", '
                                                                   '"verdict": "clear"}')
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    read = reading.read_packet(packet, get_model("mockllm/model", custom_outputs=outputs), tmp_path / "read.jsonl")
    report = reading.score(key, read)
    assert report["overall"]["acc"] == pytest.approx(firsts["Action1"] / 80)
    assert report["overall"]["verdicts"]["clear"] == 80
    again = reading.score(key, reading.load_answers(tmp_path / "read.jsonl"))  # the answers file it wrote
    assert again["overall"] == report["overall"] and again["by_tier"] == report["by_tier"]
    with pytest.raises(ValueError, match=r"answers.jsonl: line 1: field 'item'"):
        answers.write_text('{"choice": "Action1"}\n')
        reading.load_answers(answers)


def test_a_killed_builds_partial_folder_is_removed_by_the_next_but_never_a_live_one(tmp_path: Path) -> None:
    """A build killed outright between writing its files and renaming them left `.build-*` in
    the output folder for good; the next build removes it, never one whose writer still runs."""
    import os
    import subprocess
    import sys

    from toolprm_tasks.core.files import LOCK_NAME, partial_folder
    from toolprm_tasks.rebuild.build import PARTIAL_PREFIX, BuildResult, write_build

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    killed = out / f"{PARTIAL_PREFIX}{dead}-abc"  # its lock file: nobody holds it now
    killed.mkdir()
    (killed / LOCK_NAME).touch()
    (killed / "prmbench_rebuilt_bfcl.json").write_text("[]", encoding="utf-8")
    unlocked = out / f"{PARTIAL_PREFIX}{dead}-def"  # killed before it made its lock file: its pid is gone
    unlocked.mkdir()
    legacy, recent = out / f"{PARTIAL_PREFIX}k3j2h1g0", out / f"{PARTIAL_PREFIX}z9y8x7w6"  # older versions' names
    legacy.mkdir()
    recent.mkdir()
    os.utime(legacy, (0, 0))  # untouched for decades: its build is long gone; `recent` may be writing
    with partial_folder(out, PARTIAL_PREFIX) as live:  # another process's build, still writing
        write_build("bfcl", BuildResult(), out, seed=0)
        assert live.is_dir() and not killed.exists() and not unlocked.exists() and not legacy.exists()
    assert not live.exists() and recent.is_dir()
    recent.rmdir()
    # the build's own partial folder is gone too
    assert sorted(p.name for p in out.iterdir()) == ["check_failures_bfcl.json", "manifest_bfcl.json",
                                                    "prmbench_rebuilt_bfcl.json", "prmbench_rebuilt_bfcl_train.json"]


def test_validate_lists_every_problem_of_a_builds_folder(built: Path, tmp_path: Path, capsys) -> None:
    """`toolprmbench validate DIR` read release files only: a build's folder was four missing files."""
    import shutil

    from toolprm_tasks.cli import main as cli_main

    folder = tmp_path / "build"
    shutil.copytree(built, folder, ignore=shutil.ignore_patterns(".*"))
    assert cli_main(["validate", str(folder)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    records = json.loads((folder / "prmbench_rebuilt_tooltalk.json").read_text(encoding="utf-8"))
    records[3]["action_chosen"] = 7
    (folder / "prmbench_rebuilt_tooltalk.json").write_text(json.dumps(records[:-1]), encoding="utf-8")
    (folder / "prmbench_rebuilt_bfcl_train.json").unlink()
    assert cli_main(["validate", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"{folder}/prmbench_rebuilt_bfcl_train.json: missing (listed in manifest_bfcl.json)" in out
    assert f"{folder}/prmbench_rebuilt_tooltalk.json: sha256 " in out and "differs from its manifest" in out
    assert f"{folder}/prmbench_rebuilt_tooltalk.json: record 3: field 'action_chosen'" in out
    assert f"{folder}/prmbench_rebuilt_tooltalk.json: {len(records) - 1} records, its manifest says {len(records)}" in out
    assert "prmbench_bfcl.json: missing" not in out  # a build's folder holds no release files
    assert "4 problem(s)" in out
    manifest = json.loads((folder / "manifest_bfcl.json").read_text(encoding="utf-8"))
    manifest["files"]["../outside.json"] = "0" * 64  # a manifest never sends the check outside its folder
    (folder / "manifest_bfcl.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert cli_main(["validate", str(folder)]) == 1
    assert "field 'files': '../outside.json' is not a file name of this folder" in capsys.readouterr().out
