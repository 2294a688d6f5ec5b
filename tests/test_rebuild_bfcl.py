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
