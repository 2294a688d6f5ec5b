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
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.rebuild.errors import SourceError
from toolprm_tasks.rebuild.points import DecisionPoint

_TYPES = {"text": "string", "str": "string", "string": "string", "image": "string", "int": "integer",
          "integer": "integer", "float": "number", "number": "number", "bool": "boolean", "boolean": "boolean"}


@dataclass(frozen=True)
class GtaQuery:
    id: str
    record: dict[str, Any]


def _fail(source: str, index: Any, field: str, problem: str) -> SourceError:
    return SourceError(f"{source}: record {index}: field '{field}': {problem}")


def load_queries(dataset: Path) -> list[GtaQuery]:
    try:
        data = json.loads(dataset.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{dataset}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{dataset}: expected an object keyed by query index")
    queries = []
    for index, record in data.items():
        if not isinstance(record, dict):
            raise _fail(dataset.name, index, "<record>", "expected an object")
        if not isinstance(record.get("dialogs"), list) or not record["dialogs"]:
            raise _fail(dataset.name, index, "dialogs", "expected a non-empty list")
        if not isinstance(record.get("tools"), list):
            raise _fail(dataset.name, index, "tools", "expected a list")
        for turn_index, turn in enumerate(record["dialogs"]):
            if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant", "tool"):
                raise _fail(dataset.name, index, f"dialogs[{turn_index}].role", "expected user, assistant or tool")
        queries.append(GtaQuery(str(index), record))
    return queries


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


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            raise SourceError(f"{where}: arguments are not valid JSON") from None
        if isinstance(value, dict):
            return value
    raise SourceError(f"{where}: arguments must be an object")


def decision_points(query: GtaQuery, toolmeta: dict[str, Any] | None) -> list[DecisionPoint]:
    record = query.record
    names = [t["name"] for t in record["tools"] if isinstance(t, dict) and isinstance(t.get("name"), str)]
    functions = tool_specs_from_meta(names, toolmeta)
    described = "; ".join(f"{s['name']}: {s['description']}" if s["description"] else s["name"] for s in functions)
    files = ", ".join(f.get("path", "") for f in record.get("files") or [] if isinstance(f, dict))
    system = f"You can use these tools: {described}." + (f" Files: {files}." if files else "")
    history: list[dict[str, Any]] = [{"role": "system", "content": system}]
    points: list[DecisionPoint] = []
    step = 0
    for turn_index, turn in enumerate(record["dialogs"]):
        role = turn["role"]
        if role == "user":
            history.append({"role": "user", "content": turn.get("content", "")})
        elif role == "tool":
            history.append({"role": "tool", "content": turn.get("content", "")})
        elif turn.get("tool_calls"):
            for call in turn["tool_calls"]:
                function = call.get("function") or {}
                action = {"name": function.get("name"),
                          "parameters": _arguments(function.get("arguments", {}), f"{query.id}: dialogs[{turn_index}]")}
                points.append(DecisionPoint("gta", query.id, step, list(history), functions, action))
                history.append({"role": "assistant", "content": action})
                step += 1
        elif isinstance(turn.get("content"), str) and turn["content"].strip():
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
