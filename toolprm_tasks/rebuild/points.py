"""Decision points: a gold step in its history, before a rejected action is made for it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolprm_tasks.core.tool_calls import tool_specs


@dataclass(frozen=True)
class DecisionPoint:
    source: str  # "bfcl" | "tooltalk" | "gta"
    source_id: str  # conversation id in the source
    step: int  # index of the gold step within the conversation
    history: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    gold: Any  # a call {"name", "parameters"} or a chat reply (str)
    # what a plausible wrong call at a chat point would be (e.g. the call that becomes right later)
    call_hint: dict[str, Any] | None = None
    # BFCL: the calls executed before this point, to rebuild its state (gold call strings, or
    # call objects of a policy's own rollout)
    prior_calls: list[Any] = field(default_factory=list)
    # chat points: why a reply is due: "report" (the turn's calls are done), "ask" (a
    # parameter is missing), "unavailable" (the tool is withheld), "text" (a recorded reply)
    reply_kind: str | None = None
    # call points: the gold calls of this user turn from this one on (what a premature report
    # would claim); chat points: the calls the reply is about
    turn_calls: tuple[dict[str, Any], ...] = ()
    # ask: the parameter the user has not given; unavailable: the withheld tool
    missing: str | None = None
    # call points: the intent a wrong reply takes first ("report", "ask", "unavailable"), where
    # selection deals them out to match the reply points' kinds; None: a seeded draw
    wrong_reply_intent: str | None = None
    # source-written wrong replies for a call point (ToolTalk: the turn's own recorded reply,
    # which claims results before the calls are made)
    wrong_replies: tuple[str, ...] = ()
    # values in the environment's state at this point (BFCL: files, ids, names); never shown
    # to a reader, so no wrong value is drawn from them (kept for callers that pass them)
    state_values: tuple[Any, ...] = ()
    # call points: the observations of `turn_calls` (executed, or recorded), aligned with them:
    # what the later calls of the turn depend on (skipped lookups, questions a tool answers)
    turn_observations: tuple[str, ...] = ()
    # ask points: the parameters of `call_hint` that the user has not given yet (all of them)
    missing_params: tuple[str, ...] = ()
    # unavailable points: the withheld tool's spec (its siblings among the offered tools)
    withheld_spec: dict[str, Any] | None = None
    # tool name -> its class, where the source groups tools and says so outside the descriptions
    # (ToolTalk's suites); siblings are drawn within a class
    tool_classes: Mapping[str, str] | None = field(default=None, compare=False, repr=False)
    # tool name -> the argument objects of every gold call of that tool in the source (shared
    # by all points of a build; where wrong values and wrong-tool arguments are drawn from)
    gold_calls: Mapping[str, tuple[dict[str, Any], ...]] | None = field(default=None, compare=False, repr=False)
    # the selection rules of later build versions that the source takes (`operators.RULES`);
    # a source without them keeps the output of the version it was frozen at (BFCL: build 7)
    rules: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    # the offered tools that only look things up, where the source says so (ToolTalk's
    # `is_action = False`); a "no tool for that" point's wrong call is never one of them
    lookup_tools: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def is_chat(self) -> bool:
        return isinstance(self.gold, str)


# a quote opens where no letter precedes it and closes where none follows ("I'm at it, let's" quotes nothing)
_QUOTED = re.compile(r"(?<!\w)'([^'\n]{1,80}?)'(?!\w)|(?<!\w)\"([^\"\n]{1,80}?)\"(?!\w)")
# values a user or an observation names in running text: files, paths, e-mail addresses,
# dates and times, identifiers with digits, numbers
# The two alternatives that need a character after a run ('@', '.ext') start only where the run
# starts: tried at each position of a long run ('x' * 100000) they were quadratic (minutes). A
# match inside the run reaches the same '@' or '.' as one at its start, so the values are the
# same, except after a date or time that ends inside a run ('2020-01-01_notes.txt' gave the date
# and '_notes.txt', now the date alone); on all 3,540 texts of the default build they are equal.
_ENTITY = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.]+|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|\b\d{1,2}:\d{2}(?::\d{2})?\b"
                     r"|\b\d+\.\d+\b"  # a decimal number whole (15.5 is no 15)
                     r"|(?<![\w-])[\w-]+\.(?:txt|pdf|csv|docx?|md|json|py|jpg|png|log|xlsx?)\b|\b[\w]*\d[\w-]*\b")
_MAX_TEXT = 60


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def text_values(text: str) -> list[Any]:
    """Quoted strings and entity-like tokens of running text (never whole sentences)."""
    out: list[Any] = [a or b for a, b in _QUOTED.findall(text)]
    for token in _ENTITY.findall(text):
        out.append(_number(token) if re.fullmatch(r"-?\d+(\.\d+)?", token) else token)
    return out


def json_values(value: Any, out: list[Any]) -> None:
    """Leaf values of a JSON-like value (short strings, numbers), and the names of a state's
    directory-like mappings (file and folder names are keys there)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("__class__", "__ref__"):  # a state snapshot's own markers, not data
                continue
            if key in ("contents", "inbox", "files") and isinstance(item, dict):
                out.extend(k for k in item if isinstance(k, str) and len(k) <= _MAX_TEXT)
            json_values(item, out)
    elif isinstance(value, list):
        for item in value:
            json_values(item, out)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                json_values(json.loads(text), out)
                return
            except json.JSONDecodeError:
                pass
        if len(text) <= _MAX_TEXT and "\n" not in text:
            out.append(text)
        else:
            out.extend(text_values(text))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(value)


def normalised(value: Any) -> Any:
    """A value as `points.equivalent` compares it: case and spacing of strings folded, numbers
    as floats (1 and 1.0 agree; booleans stay booleans), inside lists and objects too."""
    if isinstance(value, str):
        return " ".join(value.strip().casefold().split())
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an int past a float's range (a model's 400-digit argument): as it is
            return value
    if isinstance(value, (list, tuple)):
        return [normalised(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalised(v) for k, v in value.items()}
    return value


def value_key(value: Any) -> Any:
    """A hashable key that tells values apart by type too (1, 1.0 and True are different)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return type(value).__name__, value
    return "json", json.dumps(value, sort_keys=True, ensure_ascii=False)


def unique(values: Iterable[Any]) -> list[Any]:
    """Values without repeats (by `value_key`), in order, empty strings left out."""
    seen, out = set(), []
    for value in values:
        key = value_key(value)
        if key not in seen and value != "":
            seen.add(key)
            out.append(value)
    return out


def history_values(history: list[dict[str, Any]]) -> list[Any]:
    """Literal values the history mentions, in order of appearance without repeats: the
    values in what the user and the assistant wrote, the arguments of earlier calls (never
    tool names) and the fields of observations. Where plausible wrong arguments come from."""
    found: list[Any] = []
    for turn in history:
        content = turn.get("content")
        if isinstance(content, dict):  # an earlier call: its arguments only
            json_values(content.get("parameters") or {}, found)
        elif turn.get("role") == "tool" and isinstance(content, str):
            try:
                json_values(json.loads(content), found)
            except json.JSONDecodeError:  # an error message or plain text: its entities only
                found.extend(text_values(content))
        elif isinstance(content, str):
            found.extend(text_values(content))
    return unique(found)


def turn_so_far(history: list[dict[str, Any]], back: int = 0) -> list[tuple[dict[str, Any], str]]:
    """The calls made since the user's last message (`back=1`: between the user's message
    before it and the last one), each with its observation: what an answer can report."""
    users = [i for i, t in enumerate(history) if t.get("role") == "user"]
    if back:
        if len(users) <= back:
            return []
        history = history[:users[-back]]
        users = users[:-back]
    start = (users[-1] if users else -1) + 1
    done: list[tuple[dict[str, Any], str]] = []
    turns = history[start:]
    for index, turn in enumerate(turns):
        content = turn.get("content")
        if turn.get("role") == "assistant" and isinstance(content, dict):
            following = turns[index + 1] if index + 1 < len(turns) else None
            observation = following.get("content") if following and following.get("role") == "tool" else None
            done.append((content, observation if isinstance(observation, str) else ""))
    return done


def equivalent(a: Any, b: Any, functions: Any) -> bool:
    """Same step: two replies, or calls of one tool whose key (required, else all) arguments
    agree after normalising case, spacing and number types."""
    if isinstance(a, str) and isinstance(b, str):
        return True  # two replies: no rule can rank them (the judges could)
    if isinstance(a, str) != isinstance(b, str):
        return False
    if a.get("name") != b.get("name"):
        return False
    spec = (tool_specs(functions) or {}).get(a["name"], {})
    keys = spec.get("required") or sorted(set(a.get("parameters", {})) | set(b.get("parameters", {})))
    return all(normalised(a["parameters"].get(k)) == normalised(b["parameters"].get(k)) for k in keys)
