"""GTA queries from a user-supplied copy of its `dataset.json` (GTA is not on PyPI).

`dataset.json` is `{idx: {"tools": [{"name"}], "files": [{"type", "path"}], "dialogs": [...],
"gt_answer": ...}}`; dialog turns are user messages, assistant turns with `tool_calls`
(`{"type": "function", "function": {"name", "arguments"}}`), tool results and a final
assistant answer. A `toolmeta.json` beside it (tool name -> `{"description", "inputs":
[{"name", "type", "description", "optional"}]}`), if present, gives the tool specs; otherwise
only the tool names are known. As in the release, the tools are described in the system turn.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.data import jsonio
from toolprm_tasks.rebuild.errors import SourceError
from toolprm_tasks.rebuild.points import DecisionPoint
from toolprm_tasks.rebuild.policy import encodable  # the one rule for text a build can write

_Where = Callable[[str, str], SourceError]  # (field, problem) -> the error naming file and query

_TYPES = {"text": "string", "str": "string", "string": "string", "image": "string", "int": "integer",
          "integer": "integer", "float": "number", "number": "number", "bool": "boolean", "boolean": "boolean"}


@dataclass(frozen=True)
class GtaQuery:
    id: str
    record: dict[str, Any]


def _fail(source: str, index: Any, field: str, problem: str) -> SourceError:
    return SourceError(f"{source}: record {index}: field '{field}': {problem}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # json keeps the last: a query (or a field) would vanish without a word
        raise _DuplicateKey(min(key for key, n in Counter(key for key, _ in pairs).items() if n > 1))
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def read_source_json(path: Path) -> tuple[Any, bytes]:
    """A GTA file, read strictly (UTF-8, standard JSON: NaN, depth and integer-length problems
    named with line and column), every object's keys unique; and the bytes read, which the
    build's source version hashes (one read: what is hashed is what was parsed)."""
    if os.path.lexists(path) and not path.is_file():
        raise SourceError(f"{path}: not a readable file (a folder, or a link that leads nowhere)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        jsonio.parse_json_bytes(raw, str(path))
    except jsonio.JSONFileError as exc:  # the first problem (`validate` reads release files, not GTA's)
        more = f" (and {exc.more} more problem(s) in this file)" if exc.more else ""
        raise SourceError(f"{exc.problem}{more}") from None
    try:  # valid strict JSON: now only the keys are checked
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys), raw
    except _DuplicateKey as exc:
        raise SourceError(f"{path}: the key {exc.key!r} appears twice in one object (JSON keeps the last, "
                          "and the first would be lost)") from None


def _check_call(where: _Where, call: Any, path: str) -> None:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise where(f"{path}.function", "expected an object {\"name\", \"arguments\"}")
    if not isinstance(call["function"].get("name"), str) or not call["function"]["name"].strip():
        raise where(f"{path}.function.name", "expected the tool's name (a non-empty string)")
    _arguments(call["function"].get("arguments", {}), lambda problem: where(f"{path}.function.arguments", problem))


def _check_turn(where: _Where, turn: Any, path: str) -> None:
    if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant", "tool"):
        raise where(f"{path}.role", "expected user, assistant or tool")
    if turn["role"] == "user" and not isinstance(turn.get("content"), str):
        raise where(f"{path}.content", "expected the user's text (a string)")
    if turn["role"] != "assistant":
        return
    calls = turn.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise where(f"{path}.tool_calls", "expected a list of calls")
    for call_index, call in enumerate(calls or []):
        _check_call(where, call, f"{path}.tool_calls[{call_index}]")
    # a calling turn's text is its 'thought' (GTA's format), not shown to judges, as in the release
    if not calls and not isinstance(turn.get("content"), str):
        raise where(f"{path}.content", "an assistant turn without tool_calls is the answer: expected a string")


def _unwritable(value: Any, path: str) -> tuple[str, str] | None:
    """The first value a build could not write as standard JSON text: a number past float's range
    (`1e999` reads as infinity) or a lone surrogate (JSON's `\\ud800` escape); (field, problem)."""
    stack = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return at, "a number out of range (it reads as infinity, which JSON cannot hold)"
        if isinstance(item, str) and not encodable(item):
            return at, "text that is not valid Unicode (a lone surrogate, JSON's \\ud800 escape)"
        if isinstance(item, dict):
            for key, child in item.items():
                if not encodable(key):
                    return at, f"a key that is not valid Unicode ({key!r})"
                stack.append((child, f"{at}.{key}" if at else key))
        elif isinstance(item, list):
            stack += [(child, f"{at}[{i}]") for i, child in enumerate(item)]
    return None


def _check_record(where: _Where, record: Any) -> None:
    if not isinstance(record, dict):
        raise where("<record>", "expected an object")
    found = _unwritable(record, "")
    if found is not None:
        raise where(found[0] or "<record>", found[1])
    if not isinstance(record.get("dialogs"), list) or not record["dialogs"]:
        raise where("dialogs", "expected a non-empty list")
    if not isinstance(record.get("tools"), list):
        raise where("tools", "expected a list")
    for tool_index, tool in enumerate(record["tools"]):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"].strip():
            raise where(f"tools[{tool_index}].name", "expected the tool's name (a non-empty string)")
    files = record.get("files")
    if files is not None and not isinstance(files, list):
        raise where("files", "expected a list of {\"type\", \"path\"}")
    for file_index, item in enumerate(files or []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise where(f"files[{file_index}].path", "expected the file's path (a string)")
    for turn_index, turn in enumerate(record["dialogs"]):
        _check_turn(where, turn, f"dialogs[{turn_index}]")


def load_queries(dataset: Path) -> list[GtaQuery]:
    """Every query of `dataset.json`, each checked whole before any is used (an error names the
    file, the query and the field)."""
    return load_dataset(dataset)[0]


def load_dataset(dataset: Path) -> tuple[list[GtaQuery], bytes]:
    """`load_queries`, and the bytes they were parsed from (the build's source version)."""
    data, raw = read_source_json(dataset)
    if not isinstance(data, dict):
        raise SourceError(f"{dataset}: expected an object keyed by query index")
    if not data:
        raise SourceError(f"{dataset}: holds no query (an empty object)")
    queries = []
    for index, record in data.items():
        _check_record(lambda field, problem, index=index: _fail(str(dataset), index, field, problem), record)
        queries.append(GtaQuery(str(index), record))
    return queries, raw


def check_toolmeta(path: Path, toolmeta: Any) -> dict[str, Any]:
    """`toolmeta.json`'s shape: tool name -> {"description": str, "inputs": [{"name", "type",
    "description", "optional"}]} (an error names the tool and the field)."""
    if not isinstance(toolmeta, dict):
        raise SourceError(f"{path}: expected an object keyed by tool name")
    for name, meta in toolmeta.items():
        where = lambda field, problem, name=name: _fail(str(path), repr(name), field, problem)  # noqa: E731
        if not isinstance(meta, dict):
            raise where("<tool>", "expected an object")
        found = _unwritable({name: meta}, "")
        if found is not None:
            raise where(found[0], found[1])
        if not isinstance(meta.get("description", ""), str):
            raise where("description", "expected a string")
        inputs = meta.get("inputs", [])
        if not isinstance(inputs, list):
            raise where("inputs", "expected a list")
        for input_index, item in enumerate(inputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise where(f"inputs[{input_index}].name", "expected the input's name (a string)")
            for key in ("type", "description"):
                if not isinstance(item.get(key, ""), str):
                    raise where(f"inputs[{input_index}].{key}", "expected a string")
    return toolmeta


def tool_specs_from_meta(names: list[str], toolmeta: dict[str, Any] | None) -> list[dict[str, Any]]:
    specs = []
    for name in names:
        meta = (toolmeta or {}).get(name) or {}
        properties, required = {}, []
        for item in meta.get("inputs") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                properties[item["name"]] = {"type": _TYPES.get(str(item.get("type", "")).lower(), "string"),
                                            "description": item.get("description", "")}
                if not item.get("optional"):
                    required.append(item["name"])
        spec: dict[str, Any] = {"name": name, "description": meta.get("description", "")}
        if properties:
            spec["parameters"] = {"type": "object", "properties": properties, "required": required}
        specs.append(spec)
    return specs


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _arguments(raw: Any, fail: Callable[[str], SourceError]) -> dict[str, Any]:
    """A call's arguments: an object, or a JSON string of one (strict: no NaN, bounded depth)."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw, parse_constant=_refuse_constant) if raw.strip() else {}
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN, an over-long integer, depth
            reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
            raise fail(f"a string that is not a JSON object ({reason})") from None
        if isinstance(value, dict):
            found = _unwritable(value, "")
            if found is not None:
                raise fail(f"{found[1]} at {found[0] or 'the top'}")
            return value
    raise fail("expected an object, or a JSON string of one")


def decision_points(query: GtaQuery, toolmeta: dict[str, Any] | None) -> list[DecisionPoint]:
    record = query.record
    names = [t["name"] for t in record["tools"]]  # load_queries checked every field read here
    functions = tool_specs_from_meta(names, toolmeta)
    described = "; ".join(f"{s['name']}: {s['description']}" if s["description"] else s["name"] for s in functions)
    files = ", ".join(f["path"] for f in record.get("files") or [])
    system = f"You can use these tools: {described}." + (f" Files: {files}." if files else "")
    history: list[dict[str, Any]] = [{"role": "system", "content": system}]
    points: list[DecisionPoint] = []
    step = 0
    for turn in record["dialogs"]:
        role = turn["role"]
        if role == "user":
            history.append({"role": "user", "content": turn.get("content", "")})
        elif role == "tool":
            history.append({"role": "tool", "content": turn.get("content", "")})
        elif turn.get("tool_calls"):
            for call in turn["tool_calls"]:
                function = call["function"]  # load_queries checked it, and that the arguments parse
                action = {"name": function["name"], "parameters": _arguments(function.get("arguments", {}), SourceError)}
                points.append(DecisionPoint("gta", query.id, step, list(history), functions, action))
                history.append({"role": "assistant", "content": action})
                step += 1
        elif turn["content"].strip():
            last_call = next((t["content"] for t in reversed(history) if t["role"] == "assistant"
                              and isinstance(t["content"], dict)), None)
            points.append(DecisionPoint("gta", query.id, step, list(history), functions, turn["content"],
                                        call_hint=last_call))
            history.append({"role": "assistant", "content": turn["content"]})
            step += 1
    return points


def pick_point(points: list[DecisionPoint], rng: random.Random) -> DecisionPoint | None:
    """One point per query: a gold call, or (a third of the time) the final answer."""
    calls = [p for p in points if not p.is_chat]
    chats = [p for p in points if p.is_chat and p.call_hint is not None]
    if chats and (not calls or rng.random() < 1 / 3):
        return rng.choice(chats)
    return rng.choice(calls) if calls else None
