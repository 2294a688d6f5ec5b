"""BFCL multi-turn sources replayed in their executable environments, safely."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bfcl_eval", reason="install with: pip install --no-deps bfcl-eval==2026.3.23 mpmath")

from toolprm_tasks.envs.bfcl import (  # noqa: E402
    CATEGORIES,
    ERROR_PREFIX,
    Environment,
    function_docs,
    load_conversations,
    replay_gold,
)


@pytest.fixture(scope="module")
def conversations():
    return load_conversations()


def test_all_four_categories_load(conversations) -> None:
    assert len(conversations) == 800
    assert {c.category for c in conversations} == set(CATEGORIES)
    first = conversations[0]
    assert first.id == "multi_turn_base_0" and first.excluded_function == ["cp"]
    assert {d["name"] for d in function_docs(first.involved_classes)} >= {"cd", "mkdir", "mv", "post_tweet"}


def _find(node: dict, *names: str) -> dict:
    for name in names:
        node = node["contents"][name]
    return node


def test_gold_replay_reaches_the_hand_derived_end_state(conversations) -> None:
    # multi_turn_base_0: cd document, mkdir temp, mv final_report.pdf temp, ... , mv previous_report.pdf temp
    conversation = next(c for c in conversations if c.id == "multi_turn_base_0")
    replay = replay_gold(conversation)
    assert all(o.ok for turn in replay.observations for o in turn)
    fs = replay.end_state["GorillaFileSystem"]
    document = _find(fs["root"], "document")
    assert sorted(document["contents"]) == ["temp"]
    assert sorted(_find(document, "temp")["contents"]) == ["final_report.pdf", "previous_report.pdf"]
    # the working directory is private state (BFCL's checker ignores it too): ask the environment
    env = Environment(conversation.involved_classes, conversation.initial_config)
    for call in (c for turn in conversation.gold for c in turn):
        env.execute(call)
    assert json.loads(env.execute("pwd()").text)["current_working_directory"].endswith("document/temp")
    # the grep observation is the real one, read from the environment
    grep = replay.observations[1][1]
    assert grep.call.startswith("grep(") and "budget analysis" in grep.text


def test_every_gold_step_of_every_conversation_executes(conversations) -> None:
    failures = [(c.id, o.call, o.text) for c in conversations for turn in replay_gold(c).observations
                for o in turn if not o.ok]
    assert failures == []


def test_replay_is_deterministic_and_leaves_the_source_untouched(conversations) -> None:
    for conversation in conversations[::40]:
        before = json.dumps(conversation.initial_config, sort_keys=True)
        first, second = replay_gold(conversation), replay_gold(conversation)
        assert json.dumps(first.end_state, sort_keys=True) == json.dumps(second.end_state, sort_keys=True)
        assert [o.text for t in first.observations for o in t] == [o.text for t in second.observations for o in t]
        assert json.dumps(conversation.initial_config, sort_keys=True) == before


@pytest.mark.parametrize("call", [
    "__import__('os').system('touch pwned')",
    "_load_scenario({})",
    "system('ls')",
    "ls(a=__import__('os'))",
    "GorillaFileSystem.ls()",
    "ls(**{'a': True})",
    "ls(a=True); rm('x')",
    "[ls(), pwd()]",
])
def test_anything_but_a_plain_public_call_is_refused(conversations, call: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = Environment(conversations[0].involved_classes, conversations[0].initial_config)
    before = env.state()
    observation = env.execute(call)
    assert not observation.ok and observation.text.startswith(ERROR_PREFIX)
    assert env.state() == before
    assert not (tmp_path / "pwned").exists()


def test_a_limit_reads_only_what_it_needs(conversations, tmp_path) -> None:
    import shutil

    from toolprm_tasks.envs.bfcl import CATEGORIES, data_dir

    # only the first category's files exist here: a limit within it must not touch the others
    name = "BFCL_v4_multi_turn_base.json"
    (tmp_path / "possible_answer").mkdir()
    shutil.copy(data_dir() / name, tmp_path / name)
    shutil.copy(data_dir() / "possible_answer" / name, tmp_path / "possible_answer" / name)
    limited = load_conversations(CATEGORIES, root=tmp_path, limit=7)
    assert [c.id for c in limited] == [c.id for c in conversations[:7]]
    assert [c.id for c in limited] == [f"multi_turn_base_{i}" for i in range(7)]


# An adversarial probe (2026-12-07): state that leaked between conversations and process-wide
# settings a call left behind.


def test_a_long_context_booking_never_moves_another_conversations_card(conversations) -> None:
    """BFCL's long-context TravelAPI puts module-level card dicts into the instance by
    reference: one conversation's booking moved every later conversation's balance."""
    travel = [c for c in conversations if c.category == "long_context" and "TravelAPI" in c.involved_classes]
    first, second = travel[0], travel[1]
    before = replay_gold(second).end_state
    env = Environment(first.involved_classes, first.initial_config, long_context=True)
    from bfcl_eval.eval_checker.multi_turn_eval.func_source_code import long_context

    api = env.instances["TravelAPI"]
    card = next(iter(long_context.CREDIT_CARD_EXTENSION))  # a card every long-context TravelAPI gets
    balance = api.credit_card_list[card]["balance"]
    shared = long_context.CREDIT_CARD_EXTENSION[card]["balance"]
    token = api.access_token
    env.dispatch("set_budget_limit", (), {"access_token": token, "budget_limit": 1})
    booked = env.dispatch("book_flight", (), {"access_token": token, "card_id": card, "travel_date": "2024-12-01",
                                             "travel_from": "SFO", "travel_to": "LAX", "travel_class": "first"})
    assert booked.ok and api.credit_card_list[card]["balance"] < balance  # the booking was paid in this one
    assert long_context.CREDIT_CARD_EXTENSION[card]["balance"] == shared  # not by the module's dict
    other = Environment(second.involved_classes, second.initial_config, long_context=True)
    assert all(c["balance"] == before["TravelAPI"]["credit_card_list"][k]["balance"]
               for k, c in other.instances["TravelAPI"].credit_card_list.items())
    assert replay_gold(second).end_state == before  # and its gold end state is what it was


def test_a_math_call_leaves_no_precision_set_for_the_process(conversations) -> None:
    import decimal

    import mpmath

    math_conversation = next(c for c in conversations if "MathAPI" in c.involved_classes)
    env = Environment(math_conversation.involved_classes, math_conversation.initial_config)
    dps, prec = mpmath.mp.dps, decimal.getcontext().prec
    assert env.dispatch("square_root", (), {"number": 2, "precision": 1}).ok
    assert env.dispatch("logarithm", (), {"value": 8, "base": 2, "precision": 1}).ok
    assert (mpmath.mp.dps, decimal.getcontext().prec) == (dps, prec)  # were 1 and 1


def test_equal_calls_with_an_int_past_a_floats_range_compare_without_raising() -> None:
    from toolprm_tasks.rebuild.points import equivalent

    big = {"name": "multiply", "parameters": {"a": 10**400, "b": 2}}
    small = {"name": "multiply", "parameters": {"a": 3, "b": 2}}
    assert not equivalent(big, small, [])  # was OverflowError: a search sample of N >= 2 ended in error
    assert equivalent(big, json.loads(json.dumps(big)), [])


def test_calls_that_nest_directories_past_the_stack_are_a_state_that_matches_nothing(conversations) -> None:
    """`mkdir d; cd d` 200 times nests the state past Python's stack: the oracle's copy and the
    snapshot raised RecursionError, which ended a search sample (hostile-output probe). The
    deepest state of BFCL's 800 gold replays nests 10 levels of the snapshot's 120."""
    from toolprm_tasks.agent_search.actions import CALL, Action
    from toolprm_tasks.agent_search.check import effect, matches_gold
    from toolprm_tasks.envs.bfcl import StateTooLarge

    conversation = next(c for c in conversations if c.id == "multi_turn_base_2")
    env = Environment(conversation.involved_classes, conversation.initial_config)
    for _ in range(200):
        assert env.execute("mkdir(dir_name='d')").ok and env.execute("cd(folder='d')").ok
    with pytest.raises(StateTooLarge, match="deeper than"):
        env.state()
    tried = effect(env, Action(CALL, {"name": "pwd", "parameters": {}}))
    assert tried.state is None and not matches_gold(tried, tried)


def test_calls_that_share_directories_cannot_make_a_snapshot_run_for_minutes(conversations) -> None:
    """GorillaFileSystem's cp/mv share directory objects: each round of these five calls doubled
    the snapshot's work (70 calls: over two minutes). Past MAX_STATE_NODES the state is one
    that matches nothing: a failed check, never a hang."""
    from toolprm_tasks.agent_search.actions import CALL, Action
    from toolprm_tasks.agent_search.check import effect, matches_gold
    from toolprm_tasks.envs.bfcl import StateTooLarge

    conversation = next(c for c in conversations if c.id == "multi_turn_base_2")
    env = Environment(conversation.involved_classes, conversation.initial_config)
    assert env.execute("mkdir(dir_name='d')").ok
    rounds = ["cp(source='d', destination='e')", "mkdir(dir_name='n')", "mv(source='d', destination='n')",
              "mv(source='e', destination='n')", "mv(source='n', destination='d')"]
    for _ in range(16):  # 80 calls: some 2**16 times the work of the first round
        assert all(env.execute(call).ok for call in rounds)
    with pytest.raises(StateTooLarge):
        env.state()
    assert env.state_or_none() is None
    pwd = Action(CALL, {"name": "pwd", "parameters": {}})
    tried = effect(env, pwd)
    assert tried.state is None and not matches_gold(tried, tried)  # too large matches nothing
