"""The search's framework-free core: answers as actions, merging, selectors, the loop
with scripted and replay policies, BFCL's verdict (cross-checked with bfcl-eval's own checker)
and the refusal of anything that is not a plain call."""

from __future__ import annotations

import asyncio
import builtins
import copy
import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bfcl_crosscheck import bfcl_turn_verdicts, bfcl_verdict
from toolprm_tasks.agent_search import replay
from toolprm_tasks.agent_search.actions import CALL, INVALID, REPLY, Action, Candidate, merge, parse_answer
from toolprm_tasks.agent_search.check import reference, trajectory_verdicts
from toolprm_tasks.agent_search.loop import Samples, run_conversation
from toolprm_tasks.agent_search.selector import (
    Answer,
    Scored,
    StepContext,
    knockout,
    majority,
    make_selector,
    pointwise,
)
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.envs.bfcl import load_conversations
from toolprm_tasks.rebuild.bfcl_points import environment, run_action

CD_DOC = {"name": "cd", "parameters": {"folder": "document"}}
MKDIR_TEMP = {"name": "mkdir", "parameters": {"dir_name": "temp"}}
MV_REPORT = {"name": "mv", "parameters": {"source": "final_report.pdf", "destination": "temp"}}


@pytest.fixture(scope="module")
def conversations() -> dict[str, Any]:
    return {c.id: c for c in load_conversations(("base", "miss_func", "miss_param"))}


@pytest.fixture(scope="module")
def first_turn(conversations) -> Any:
    """multi_turn_base_0 cut to its first turn: cd(document), mkdir(temp), mv(final_report.pdf)."""
    conversation = conversations["multi_turn_base_0"]
    return replace(conversation, turns=conversation.turns[:1], gold=conversation.gold[:1])


class Script:
    """A policy answering from a list, one answer per step (all N samples the same)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def sample(self, request, n: int) -> Samples:
        self.prompts.append(request.prompt)
        return Samples([self.answers.pop(0)] * n)


class Replay:
    def __init__(self, k: int, order: str = "seeded") -> None:
        self.k, self.order = k, order

    async def sample(self, request, n: int) -> Samples:
        return Samples(replay.replay_answers(request.step, self.k, n, 0, self.order))


def _run(conversation, policy, selector: str, n: int, **kwargs: Any):
    return asyncio.run(run_conversation(reference(conversation), policy,
                                        make_selector(selector, **kwargs.pop("judges", {})),
                                        selector_name=selector, n=n, **kwargs))


def _calls(rollout) -> list[list[dict[str, Any]]]:
    """The calls a rollout executed, per turn (what BFCL's checker is given)."""
    return [[s["candidates"][s["chosen"]]["action"]["value"] for s in turn["steps"]
             if s["candidates"][s["chosen"]]["action"]["kind"] == CALL] for turn in rollout.turns]


def _json(action: dict[str, Any]) -> str:
    return replay.answer_text(action)


# ----------------------------------------------------------------------------- answers


@pytest.mark.parametrize(("text", "kind"), [
    ('{"name": "cd", "parameters": {"folder": "document"}}', CALL),
    ('```json\n{"name": "cd", "parameters": {"folder": "document"}}\n```', CALL),
    ("<think>cd or ls?</think>{\"name\": \"ls\", \"parameters\": {}}", CALL),
    ("cd(folder='document')", CALL),  # BFCL's call syntax, parsed with ast (literals only)
    ("All done, the report is in temp.", REPLY),
    ("", INVALID),
    ("   ", INVALID),
    ("<think>still thinking about it", INVALID),  # cut off inside its reasoning
    ('[{"name": "cd", "parameters": {}}, {"name": "ls", "parameters": {}}]', INVALID),  # two calls
    ('{"name": "cd", "parameters": {"folder": ', INVALID),  # broken JSON
    ('{"answer": "cd"}', INVALID),  # JSON, but no call
    ("cd('document')", INVALID),  # positional: no named arguments
])
def test_answers_are_calls_replies_or_no_action(text: str, kind: str) -> None:
    assert parse_answer(text).kind == kind


def test_merge_keeps_counts_and_first_sample_as_representative() -> None:
    functions = [{"name": "cd", "parameters": {"type": "dict", "properties": {"folder": {"type": "string"}},
                                               "required": ["folder"]}},
                 {"name": "ls", "parameters": {"type": "dict", "properties": {}, "required": []}}]
    answers = ['{"name": "cd", "parameters": {"folder": "Document "}}', "Done.",
               '{"name": "cd", "parameters": {"folder": "document"}}', "", "All finished!",
               '{"name": "ls", "parameters": {}}']
    candidates = merge([parse_answer(a) for a in answers], functions)
    # the rebuild's rule: same tool, required arguments equal after case/space normalising; all
    # replies are one step; answers that are no action form one class
    assert [(c.action.kind, c.samples) for c in candidates] == [
        (CALL, [0, 2]), (REPLY, [1, 4]), (INVALID, [3]), (CALL, [5])]
    assert candidates[0].action.value["parameters"]["folder"] == "Document "  # the first sample runs
    assert majority(candidates) == 0  # counts 2, 2, 1, 1: the tie goes to the one sampled first


# ----------------------------------------------------------------------------- selection rules


def _candidates(*counts: int) -> list[Candidate]:
    out, sample = [], 0
    for index, count in enumerate(counts):
        out.append(Candidate(Action(REPLY if index == 0 else CALL, f"a{index}" if index == 0 else
                                    {"name": f"t{index}", "parameters": {}}), list(range(sample, sample + count))))
        sample += count
    return out


CONTEXT = StepContext("conv/0/0", [{"role": "user", "content": "hi"}], [])


class Prefers:
    """A consistent pairwise judge: names the candidate earlier in its ranking, in either order."""

    def __init__(self, ranking: list[Any]) -> None:
        self.ranking, self.calls = ranking, 0

    async def compare(self, context, first: Action, second: Action) -> Answer:
        self.calls += 1
        return Answer(1 if self.ranking.index(first.value) < self.ranking.index(second.value) else 2, "scripted", 3)


class Constant:
    def __init__(self, pick: int | None) -> None:
        self.pick, self.calls = pick, 0

    async def compare(self, context, first: Action, second: Action) -> Answer:
        self.calls += 1
        return Answer(self.pick, "scripted" if self.pick else "no_label")


@pytest.mark.parametrize("both_orders", [False, True])
def test_knockout_finds_the_preferred_candidate(both_orders: bool) -> None:
    candidates = _candidates(1, 1, 1, 1, 1)
    values = [c.action.value for c in candidates]
    judge = Prefers([values[3], values[0], values[4], values[1], values[2]])
    choice = asyncio.run(knockout(judge, CONTEXT, candidates, random.Random(0), both_orders))
    assert choice.index == 3 and not choice.fallback
    comparisons = len(candidates) - 1  # a knockout of 5 needs 4 comparisons
    assert judge.calls == choice.judge_calls == comparisons * (2 if both_orders else 1)
    assert choice.judge_tokens == 3 * judge.calls and choice.judge_splits == 0


def test_knockout_position_bias_in_both_orders_splits_to_the_tie_rule() -> None:
    candidates = _candidates(1, 3, 1, 2)
    choice = asyncio.run(knockout(Constant(1), CONTEXT, candidates, random.Random(0), both_orders=True))
    # every comparison is 1:1 (the first shown wins each time): the candidate with more samples
    # wins each one, so the one with 3 samples wins the knockout whatever the seeded order
    assert choice.index == 1 and choice.judge_splits == 3 and not choice.fallback


def test_knockout_one_order_position_bias_picks_the_seeded_first() -> None:
    candidates = _candidates(1, 1, 1, 1)
    choice = asyncio.run(knockout(Constant(1), CONTEXT, candidates, random.Random(5), both_orders=False))
    # always the first shown: round 1 keeps order[0] and order[2], round 2 keeps order[0]
    assert choice.index == choice.detail["order"][0]


def test_knockout_without_any_parsed_answer_falls_back_to_majority() -> None:
    candidates = _candidates(1, 2, 2)
    judge = Constant(None)
    choice = asyncio.run(knockout(judge, CONTEXT, candidates, random.Random(0), both_orders=True))
    assert choice.fallback and choice.index == 1  # majority: 2 samples, sampled before the other 2
    assert choice.judge_unparsed == judge.calls == 4


class Scores:
    def __init__(self, scores: list[Any]) -> None:
        self.scores = scores

    async def score(self, context, actions: list[Action]) -> list[Scored]:
        return [Scored(s, 1) for s in self.scores]


def test_pointwise_takes_the_highest_score_and_breaks_ties_by_seed() -> None:
    candidates = _candidates(1, 1, 1)
    assert asyncio.run(pointwise(Scores([0.1, 0.7, 0.3]), CONTEXT, candidates, random.Random(0))).index == 1
    picks = {asyncio.run(pointwise(Scores([0.9, 0.2, 0.9]), CONTEXT, candidates, random.Random(seed))).index
             for seed in range(30)}
    assert picks == {0, 2}  # only the tied best, and both of them over seeds
    again = [asyncio.run(pointwise(Scores([0.9, 0.2, 0.9]), CONTEXT, candidates, random.Random(7))).index
             for _ in range(3)]
    assert len(set(again)) == 1  # the same seed, the same pick


def test_pointwise_without_a_usable_score_falls_back_and_counts() -> None:
    candidates = _candidates(1, 2, 1)
    choice = asyncio.run(pointwise(Scores([None, math.nan, True]), CONTEXT, candidates, random.Random(0)))
    assert choice.fallback and choice.index == 1 and choice.judge_unparsed == 3
    partial = asyncio.run(pointwise(Scores(["high", 0.2, math.inf]), CONTEXT, candidates, random.Random(0)))
    assert partial.index == 1 and partial.judge_unparsed == 2 and not partial.fallback


# ----------------------------------------------------------------------------- the loop, scripted


def test_a_harmless_wrong_call_does_not_fail_the_turn(first_turn) -> None:
    script = [_json({"name": "pwd", "parameters": {}}), _json({"name": "cd", "parameters": {"folder": "nowhere"}}),
              _json(CD_DOC), _json(MKDIR_TEMP), _json(MV_REPORT), "Moved it."]
    rollout = _run(first_turn, Script(script), "first", 1)
    verdict = rollout.turns[0]["verdict"]
    # pwd reads, the bad cd errors: neither changes the state, and every gold observation occurs
    assert verdict == {"calls": 5, "state_ok": True, "response_ok": True, "solved": True}
    assert rollout.success
    assert bfcl_verdict(first_turn, _calls(rollout))["valid"]


def test_a_wrong_call_that_changes_the_state_fails_the_turn(first_turn) -> None:
    script = [_json({"name": "mkdir", "parameters": {"dir_name": "junk"}}), _json(CD_DOC), _json(MKDIR_TEMP),
              _json(MV_REPORT), "Moved it."]
    rollout = _run(first_turn, Script(script), "first", 1)
    verdict = rollout.turns[0]["verdict"]
    assert verdict["state_ok"] is False and verdict["solved"] is False  # an extra folder at the root
    assert not rollout.success and not rollout.state_success
    assert bfcl_verdict(first_turn, _calls(rollout))["error_type"] == "multi_turn:instance_state_mismatch"


def test_an_answer_that_is_no_action_ends_the_turn_and_is_counted(first_turn) -> None:
    rollout = _run(first_turn, Script([_json(CD_DOC), '{"name": "mkdir", "parameters": {']), "first", 1)
    assert rollout.counts["invalid_steps"] == 1 and rollout.counts["steps"] == 2
    assert rollout.turns[0]["verdict"]["solved"] is False


def test_step_limit_executes_one_more_call_then_force_terminates(conversations) -> None:
    conversation = conversations["multi_turn_base_0"]
    rollout = _run(conversation, Script([_json({"name": "pwd", "parameters": {}})] * 4), "first", 1, max_steps=3)
    # BFCL's runner: max_steps calls, the next one still runs, then the entry stops; turns remain
    assert rollout.force_terminated and rollout.counts["step_limit_hits"] == 1
    assert rollout.turns[0]["verdict"]["calls"] == 4 and len(rollout.turns) == 1
    assert not rollout.success and rollout.counts["turns"] == 4 and rollout.counts["turns_solved"] == 0


SENTINEL = "toolprm-search-sentinel"


@pytest.mark.parametrize("answer", [
    f"__import__('os').system('touch {SENTINEL}')",
    f"os.system('touch {SENTINEL}')",
    f"exec('open(\"{SENTINEL}\", \"w\")')",
    f'{{"name": "eval", "parameters": {{"source": "open(\'{SENTINEL}\', \'w\')"}}}}',
    '{"name": "_load_scenario", "parameters": {"scenario": {}}}',
    '{"name": "__init__", "parameters": {}}',
    '{"name": "__class__", "parameters": {}}',
    f"```python\nimport os; os.system('touch {SENTINEL}')\n```",
    f'[cd(folder="document"), __import__("os").system("touch {SENTINEL}")]',
])
def test_nothing_from_the_policy_is_evaluated(first_turn, answer: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("eval/exec called on model output")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    rollout = _run(first_turn, Script([answer, "Sorry."]), "first", 1)
    monkeypatch.undo()
    assert not (tmp_path / SENTINEL).exists()
    initial = environment(first_turn).state()
    env = environment(first_turn)
    for call in _calls(rollout)[0]:
        run_action(env, call)
    assert env.state() == initial  # nothing it asked for changed anything
    step = rollout.turns[0]["steps"][0]
    if step["observation"] is not None:  # read as a call: refused by name
        assert step["observation"].startswith("Error during execution: unknown function")


# ----------------------------------------------------------------------------- the replay policy


def test_replay_proposes_the_gold_step_and_distinct_wrong_actions(conversations) -> None:
    conversation = conversations["multi_turn_base_0"]
    ref = reference(conversation)
    step = replay.StepInfo("multi_turn_base_0/0/0", conversation.id, "base", 0, 0, ref.turns[0].calls[0],
                           [{"role": "user", "content": conversation.turns[0][0]["content"]}])
    values = replay.proposals(step, 4, seed=3)
    assert len(values) == 4 and values.count(CD_DOC) == 1
    functions = ref.turns[0].functions
    wrong = [parse_answer(replay.answer_text(v)) for v in values if v != CD_DOC]
    assert len(merge([parse_answer(replay.answer_text(v)) for v in values], functions)) == 4  # all distinct
    assert all(a.kind in (CALL, REPLY) for a in wrong)
    assert replay.proposals(step, 4, seed=3) == values  # seeded
    assert replay.proposals(step, 4, seed=3, order="gold_first")[0] == CD_DOC
    assert replay.proposals(step, 4, seed=3, order="gold_last")[-1] == CD_DOC
    assert replay.proposals(step, 1) == [CD_DOC]
    assert replay.replay_answers(step, 2, 5, seed=3)[0::2] == [replay.replay_answers(step, 2, 5, seed=3)[0]] * 3


# ----------------------------------------------------------------------------- predicted success

SAMPLE_IDS = ("multi_turn_base_0", "multi_turn_base_7", "multi_turn_miss_func_3", "multi_turn_miss_param_5")


@pytest.mark.parametrize("rule", ["first", "random", "majority", "oracle"])
def test_a_policy_that_proposes_only_the_gold_step_solves_everything(conversations, rule: str) -> None:
    for cid in SAMPLE_IDS[:2]:
        assert _run(conversations[cid], Replay(1), rule, 3).success


def test_oracle_and_gold_first_solve_everything_with_wrong_proposals(conversations) -> None:
    for cid in SAMPLE_IDS:
        assert _run(conversations[cid], Replay(4), "oracle", 4).success
        assert _run(conversations[cid], Replay(4, "gold_first"), "first", 1).success


def _simulate(conversation, k: int, rule: str, seed: int = 0, max_steps: int = 20) -> bool:
    """The test's own straight-line semantics of one rollout, judged by bfcl-eval's checker:
    each step takes the replay's proposal the rule names (first: the first; random: a seeded
    sample, the documented key `<id>/<turn>/<step>/select`); a call runs, a reply ends the turn;
    the gold pointer moves on when the call had the gold call's observation and state."""
    ref = reference(conversation)
    env, history, executed = environment(conversation), [], []
    for t, (messages, turn) in enumerate(zip(conversation.turns, ref.turns, strict=True)):
        history += [{"role": "user", "content": m["content"]} for m in messages]
        taken, calls = 0, []
        for s in range(max_steps + 1):
            gold = turn.calls[taken] if taken < len(turn.calls) else turn.reply
            step = replay.StepInfo(f"{conversation.id}/{t}/{s}", conversation.id, conversation.category, t, taken,
                                   gold, list(history))
            values = replay.proposals(step, k, 0)
            pick = 0 if rule == "first" else random.Random(seeded_key(seed, f"{step.key}/select")).randrange(k)
            action = values[pick % len(values)]
            history.append({"role": "assistant", "content": action})
            if isinstance(action, str):
                break
            same = False
            if isinstance(gold, dict):
                a, b = copy.deepcopy(env), copy.deepcopy(env)
                ours, theirs = run_action(a, action), run_action(b, gold)
                same = ours.text == theirs.text and a.state() == b.state()
            history.append({"role": "tool", "content": run_action(env, action).text})
            calls.append(action)
            taken += same
            if len(calls) > max_steps:
                break
        executed.append(calls)
        if len(calls) > max_steps:
            break
    verdict = bfcl_verdict(conversation, executed)
    return verdict["valid"] and verdict["irrelevance_valid"]


@pytest.mark.parametrize("rule", ["first", "random"])
def test_seeded_replay_success_matches_an_independent_simulation(conversations, rule: str) -> None:
    predicted = [_simulate(conversations[cid], 3, rule) for cid in SAMPLE_IDS]
    observed = [_run(conversations[cid], Replay(3), rule, 1 if rule == "first" else 3).success for cid in SAMPLE_IDS]
    assert observed == predicted


# ----------------------------------------------------------------------------- BFCL's own checker


def _wrong_variants(conversation, ref) -> dict[str, list[list[dict[str, Any]]]]:
    gold = [list(turn.calls) for turn in ref.turns]
    variants = {"gold": gold}
    last = max(t for t, calls in enumerate(gold) if calls)
    variants["drop a call"] = [calls[:-1] if t == last else calls for t, calls in enumerate(gold)]
    variants["repeat a call"] = [calls + calls[-1:] if t == last else calls for t, calls in enumerate(gold)]
    first = min(t for t, calls in enumerate(gold) if calls)
    variants["nothing in a turn with calls"] = [[] if t == first else calls for t, calls in enumerate(gold)]
    empty = next((t for t, calls in enumerate(gold) if not calls), None)
    if empty is not None:  # a call where the turn asks for none (miss_*)
        probe = {"name": "pwd", "parameters": {}} if "GorillaFileSystem" in conversation.involved_classes else gold[last][0]
        variants["call in a turn without calls"] = [[probe] if t == empty else calls for t, calls in enumerate(gold)]
    return variants


@pytest.mark.parametrize("cid", SAMPLE_IDS)
def test_turn_verdicts_agree_with_bfcl_eval(conversations, cid: str) -> None:
    conversation = conversations[cid]
    ref = reference(conversation)
    for name, trajectory in _wrong_variants(conversation, ref).items():
        ours, solved = [], True
        for verdict in trajectory_verdicts(ref, trajectory):
            solved = solved and verdict.solved
            ours.append(solved)  # BFCL's checker stops at the first failed turn
        assert ours == bfcl_turn_verdicts(conversation, trajectory), name
        if name == "gold":
            assert all(ours)
        elif name != "repeat a call":  # repeating a read-only call is harmless, as in BFCL
            assert not all(ours), name
