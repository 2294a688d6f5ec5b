"""Model-driven build steps (policy proposals, online rollouts, annotator, judge panel, resume)
with scripted offline models through Inspect's model layer (mockllm)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("bfcl_eval", reason="install with: pip install --no-deps bfcl-eval==2026.3.23 mpmath")

from inspect_ai.model import ModelOutput, ModelUsage, get_model  # noqa: E402

from toolprm_tasks.rebuild.build import Models, bfcl_points, build  # noqa: E402
from toolprm_tasks.rebuild.policy import proposal_prompt  # noqa: E402

LIMIT = 6


def _script(answer) -> object:
    """A mockllm model whose answer is a function of the prompt text."""
    def outputs(input, tools, tool_choice, config):  # noqa: A002 - Inspect's signature
        output = ModelOutput.from_content(model="mockllm", content=answer(input[-1].text))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=outputs)


def _policy_script():
    """Even points: the gold action (must be discarded as equivalent); odd points: the gold call
    with one string argument changed to a file that does not exist (a wrong-params case)."""
    points = bfcl_points(0, LIMIT).points["test"]  # model sampling makes test cases only
    answers = {}
    for index, item in enumerate(points):
        gold = item.point.gold
        if index % 2 == 0 or isinstance(gold, str):
            answers[proposal_prompt(item.point)] = gold if isinstance(gold, str) else json.dumps(gold)
        else:
            params = dict(gold["parameters"])
            key = next((k for k, v in params.items() if isinstance(v, str)), None)
            params[key] = "no_such_thing.txt" if key else None
            answers[proposal_prompt(item.point)] = json.dumps({"name": gold["name"], "parameters": params})
    return points, answers


def test_policy_proposals_discard_equivalent_and_keep_wrong(tmp_path: Path) -> None:
    points, answers = _policy_script()
    policy = _script(lambda prompt: answers[prompt])
    manifest = build(["bfcl"], tmp_path, models=Models(policy=policy, sampling=("policy",)), limit=LIMIT)["bfcl"]
    records = json.loads((tmp_path / "prmbench_rebuilt_bfcl.json").read_text())
    changed = [p for i, p in enumerate(points) if i % 2 == 1 and not p.point.is_chat
               and any(isinstance(v, str) for v in p.point.gold["parameters"].values())]
    equivalent = sum(1 for i, p in enumerate(points) if i % 2 == 0 or p.point.is_chat)
    assert manifest["model_proposals_equivalent_to_gold"] == equivalent
    assert len(records) + len(json.loads((tmp_path / "check_failures_bfcl.json").read_text())) == len(changed)
    for record in records:
        assert record["sampling"] == "policy:mockllm/model" and record["error type"] == "wrong params"
        assert record["execution_check"]["passed"]


def _annotator(prompt: str) -> str:
    reference = json.loads(re.search(r"## Reference calls per turn: (.*)\n", prompt).group(1))
    first = next(call for turn in reference for call in turn)
    name, args = re.fullmatch(r"(\w+)\((.*)\)", first).groups()
    parameters = {k: v.strip("'\"") for k, v in re.findall(r"(\w+)\s*=\s*('[^']*'|\"[^\"]*\")", args)}
    return json.dumps({"first_wrong_step": 1, "corrected_action": {"name": name, "parameters": parameters}})


def _judges(*rules):
    return tuple(_script(rule) for rule in rules)


def test_online_rollouts_annotator_and_judges(tmp_path: Path) -> None:
    lazy_policy = _script(lambda prompt: "I'm done.")  # never calls a tool: every state-changing task fails
    yes = lambda prompt: "yes"  # noqa: E731
    doubts_replies = lambda prompt: "no" if "## Action B: I'm done." in prompt else "Yes."  # noqa: E731
    models = Models(policy=lazy_policy, annotator=_script(_annotator), sampling=("online",),
                    judges=_judges(yes, yes, doubts_replies))
    manifest = build(["bfcl"], tmp_path, models=models, limit=LIMIT)["bfcl"]
    # the test split's conversations only: the training split is rule-made
    assert manifest["models"]["online"]["rollouts"] == len(bfcl_points(0, LIMIT).conversations["test"]) < LIMIT
    review = json.loads((tmp_path / "review_bfcl.json").read_text())
    kept = json.loads((tmp_path / "prmbench_rebuilt_bfcl.json").read_text())
    failures = json.loads((tmp_path / "check_failures_bfcl.json").read_text())
    failed_rollouts = manifest["models"]["online"]["failed_rollouts"]
    assert failed_rollouts >= 1 and len(review) + len(kept) + len(failures) == failed_rollouts
    # every failure names its split and step (None: a rollout with no step to point at), like the rule-made ones
    assert all(set(f) == {"source_id", "step_index", "split", "sampling", "reasons"} and f["split"] == "test"
               for f in failures)
    for record in review:
        assert record["action_rejected"] == "I'm done."
        assert record["error type"] == "should call a tool but chatted"
        assert record["sampling"] == "online:mockllm/model+mockllm/model"
        assert [t["role"] for t in record["history"]] == ["user"]  # the policy's own prefix
        assert sorted(record["judge_votes"].values()) == ["no", "yes", "yes"]
        assert record["execution_check"]["passed"]
    # unanimous no drops, and every vote is kept with the dropped case
    no = lambda prompt: "no"  # noqa: E731
    models.judges = _judges(no, no, no)
    manifest = build(["bfcl"], tmp_path / "all_no", models=models, limit=LIMIT)["bfcl"]
    dropped = json.loads((tmp_path / "all_no" / "dropped_bfcl.json").read_text())
    assert manifest["cases"] == 0 and len(dropped) == len(review) + len(kept)
    assert all(set(r["judge_votes"].values()) == {"no"} for r in dropped)


class _Interrupted(BaseException):
    """An interruption (Ctrl-C, a killed process): a provider's own failure is no longer one,
    it is that call's empty answer (test_a_failing_call_is_an_empty_answer...)."""


def test_interrupted_build_resumes_without_redoing_calls(tmp_path: Path) -> None:
    points, answers = _policy_script()
    calls = []

    def flaky(prompt: str) -> str:
        calls.append(prompt)
        if len(calls) == 3:
            raise _Interrupted("interrupted")
        return answers[prompt]

    with pytest.raises(_Interrupted, match="interrupted"):
        build(["bfcl"], tmp_path, models=Models(policy=_script(flaky), sampling=("policy",)), limit=LIMIT)
    cache = tmp_path / ".calls" / "bfcl" / "policy.jsonl"
    finished = len(cache.read_text().splitlines())
    assert finished >= 1
    with cache.open("a") as handle:
        handle.write('{"key": "torn')  # a line cut by the interruption: ignored, counted
    calls.clear()
    build(["bfcl"], tmp_path, models=Models(policy=_script(lambda p: (calls.append(p), answers[p])[1]),
                                            sampling=("policy",)), limit=LIMIT)
    assert len(calls) == len(points) - finished  # only the unfinished calls were made again
    first = (tmp_path / "prmbench_rebuilt_bfcl.json").read_bytes()
    build(["bfcl"], tmp_path / "fresh", models=Models(policy=_script(lambda p: answers[p]), sampling=("policy",)),
          limit=LIMIT)
    assert (tmp_path / "fresh" / "prmbench_rebuilt_bfcl.json").read_bytes() == first


# An adversarial probe (2026-12-07) of the call cache, failing providers and the build command.


def test_a_cache_line_torn_inside_a_character_is_one_rejected_line_and_the_next_entry_survives(tmp_path: Path) -> None:
    from toolprm_tasks.rebuild.models import CallCache

    path = tmp_path / "policy.jsonl"
    cache = CallCache(path)
    cache.put("a", "ok")
    cache.put("b", "Olá")
    data = path.read_bytes()
    path.write_bytes(data[:data.rindex("á".encode()) + 1])  # an interrupted append: half of "á"
    reread = CallCache(path)  # was UnicodeDecodeError on every later build
    assert reread.entries == {"a": "ok"} and reread.rejected_lines == 1
    reread.put("c", "next")  # was appended to the torn line: lost too
    again = CallCache(path)
    assert again.entries.get("c") == "next"
    path.write_text('{"key": "x", "completion": ' + "[" * 200_000 + "\n")  # was RecursionError
    assert CallCache(path).rejected_lines == 1


def test_a_failing_call_stops_the_build_naming_the_model_and_a_rerun_resumes(tmp_path: Path) -> None:
    """A provider's failure (a timeout, a 500) was a raw traceback; an empty answer in its place
    would change the build's bytes in silence. It is one error naming the option and the model,
    and the calls finished before it are cached."""
    from toolprm_tasks.rebuild.models import ModelCaller, ModelError

    def outputs(input, tools, tool_choice, config):  # noqa: A002 - Inspect's signature
        if "fail" in input[-1].text:
            raise RuntimeError("provider 500: overloaded")
        output = ModelOutput.from_content(model="mockllm", content="yes")
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    caller = ModelCaller("judge0", get_model("mockllm/model", custom_outputs=outputs), tmp_path / "calls")
    assert caller.generate_all(["ok 1"]) == ["yes"]
    with pytest.raises(ModelError, match="--judges .*a call failed .*overloaded.*run the same command again"):
        caller.generate_all(["ok 1", "fail 2"])
    assert ModelCaller("judge0", caller.model, tmp_path / "calls").cache.entries == caller.cache.entries  # kept


def test_the_build_command_refuses_what_would_build_nothing_or_fail_late(tmp_path: Path, capsys) -> None:
    from toolprm_tasks.cli import main

    (tmp_path / "afile").write_text("x")
    for args, message in ((["--sampling", ""], "--sampling names no method"),
                          (["--source", "tooltalk", "tooltalk"], "names a source twice"),
                          (["--out", str(tmp_path / "afile" / "sub")], "is a file, not a folder")):
        out = [] if "--out" in args else ["--out", str(tmp_path / "b")]
        assert main(["build", "--source", "tooltalk", *args, *out] if "--source" not in args
                    else ["build", *args, *out]) == 2
        assert message in capsys.readouterr().err


def test_a_build_without_judges_leaves_no_judged_files_of_an_earlier_build(tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    for stale in ("review_tooltalk.json", "dropped_tooltalk.json"):
        (out / stale).write_text("[]")
    build(["tooltalk"], out, limit=4)
    assert not (out / "review_tooltalk.json").exists() and not (out / "dropped_tooltalk.json").exists()


def test_online_failures_name_their_split(tmp_path: Path) -> None:
    """An annotator whose answer points at no step: each failed rollout is a failure record with
    the fields every other failure has (it lacked `split` and `step_index`)."""
    models = Models(policy=_script(lambda prompt: "I'm done."), annotator=_script(lambda prompt: "no idea"),
                    sampling=("online",))
    manifest = build(["bfcl"], tmp_path, models=models, limit=LIMIT)["bfcl"]
    failures = json.loads((tmp_path / "check_failures_bfcl.json").read_text())
    assert len(failures) == manifest["models"]["online"]["failed_rollouts"] >= 1
    assert all(f == {"source_id": f["source_id"], "step_index": None, "split": "test", "sampling": "online",
                     "reasons": f["reasons"]} for f in failures)
