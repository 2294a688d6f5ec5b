"""Rule-based error injection: the paper's four error types, made plausible on purpose.

Each operator proposes wrong actions for a decision point in a seeded order; the builder takes
the first that passes the execution check (where an environment exists). Designed against
shortcuts: wrong calls stay schema-valid (right tool names, required parameters, types and
enums), argument values come from the history or are near misses of the gold value, and chat
replies vary in length, so neither `schema` nor `longer` can tell the sides apart.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.rebuild.points import DecisionPoint, history_values
from toolprm_tasks.tool_calls import tool_specs

# paper Fig. 3 wording, as the release writes `error type`
WRONG_TOOL = "wrong tool"
WRONG_PARAMS = "wrong params"
SHOULD_CHAT = "should chat but called a tool"
SHOULD_CALL = "should call a tool but chatted"


@dataclass(frozen=True)
class Proposal:
    error_type: str
    action: Any
    operator: str


def _prop_type(spec: dict[str, Any], name: str) -> str:
    prop = (spec.get("properties") or {}).get(name) or {}
    kind = prop.get("type", "any")
    return kind if isinstance(kind, str) else "any"


def _shape(value: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value):
        return "date"
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
        return "time"
    if re.fullmatch(r"[\w\-. ]+\.\w{1,5}", value):
        return "file"
    if "/" in value:
        return "path"
    if "@" in value:
        return "email"
    if re.fullmatch(r"[\d.\-+ ]+", value):
        return "number"
    return "word" if len(value.split()) <= 3 else "text"


def _near_miss_strings(gold: str) -> list[str]:
    shape = _shape(gold)
    out: list[str] = []
    if shape == "date":
        try:
            day = dt.date.fromisoformat(gold[:10])
            out += [(day + dt.timedelta(days=d)).isoformat() + gold[10:] for d in (1, -1, 7)]
        except ValueError:
            pass
    elif shape == "time":
        parts = gold.split(":")
        hour = (int(parts[0]) + 12) % 24 if parts[0].isdigit() else 0
        out.append(":".join([f"{hour:02d}", *parts[1:]]))
        out.append(":".join([f"{(int(parts[0]) + 1) % 24:02d}", *parts[1:]]) if parts[0].isdigit() else gold)
    elif shape == "file":
        stem, ext = gold.rsplit(".", 1)
        out += [f"{stem}.{alt}" for alt in ("txt", "pdf", "csv", "docx") if alt != ext][:2]
        out += [f"{stem}_v2.{ext}", f"{stem.split('_')[-1]}.{ext}"]
    elif shape == "path":
        pieces = gold.strip("/").split("/")
        if len(pieces) > 1:
            out += ["/".join(pieces[:-1]), pieces[-1]]
    elif shape == "word" and gold:
        out += [gold.lower() if gold != gold.lower() else gold.capitalize(), gold + "s", gold[:-1]]
    return [v for v in out if v and v != gold]


def _alternatives(gold: Any, kind: str, prop: dict[str, Any], values: list[Any], rng: random.Random) -> list[Any]:
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return [v for v in enum if v != gold]
    if isinstance(gold, bool) or kind == "boolean":
        return [not gold] if isinstance(gold, bool) else []
    if isinstance(gold, (int, float)):
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v != gold]
        near = [gold + 1, gold - 1, gold * 10] if isinstance(gold, int) else [round(gold * 1.1, 2), round(gold / 10, 2)]
        if kind == "integer" or isinstance(gold, int) and kind != "number":
            numbers = [v for v in numbers if isinstance(v, int)]
            near = [int(v) for v in near]
        return [*numbers[:3], *near]
    if isinstance(gold, str):
        shape = _shape(gold)
        seen = [v for v in values if isinstance(v, str) and v != gold and _shape(v) == shape]
        return [*seen[:4], *_near_miss_strings(gold)]
    if isinstance(gold, list) and gold:
        pool = [v for v in values if type(v) is type(gold[0]) and v not in gold]
        out = [gold[:-1]] if len(gold) > 1 else []
        if pool:
            out.append([*gold, pool[0]])
            out.append([pool[0], *gold[1:]])
        return out
    return []


def wrong_params(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    call = point.gold
    spec = (tool_specs(point.functions) or {}).get(call["name"], {})
    values = history_values(point.history)
    proposals = []
    names = sorted(call["parameters"])
    rng.shuffle(names)
    for name in names:
        gold = call["parameters"][name]
        prop = (spec.get("properties") or {}).get(name) or {}
        for value in _alternatives(gold, _prop_type(spec, name), prop, values, rng):
            if value != gold:
                proposals.append(Proposal(WRONG_PARAMS, {"name": call["name"], "parameters": {**call["parameters"], name: value}},
                                          f"wrong_params:{name}"))
    optional = [n for n in names if n not in (spec.get("required") or [])]
    for name in optional:  # leaving out an argument the user asked for
        rest = {k: v for k, v in call["parameters"].items() if k != name}
        proposals.append(Proposal(WRONG_PARAMS, {"name": call["name"], "parameters": rest}, f"drop_param:{name}"))
    return proposals


def _fill(target: dict[str, Any], gold: dict[str, Any], values: list[Any]) -> dict[str, Any] | None:
    if not target:
        return dict(gold)  # a tool known by name only (GTA without toolmeta): same arguments
    properties = target.get("properties") or {}
    args: dict[str, Any] = {}
    unused = dict(gold)
    for name in target.get("required") or []:
        kind = (properties.get(name) or {}).get("type", "any")
        if name in unused:
            args[name] = unused.pop(name)
            continue
        same_type = next((k for k, v in unused.items() if _matches(v, kind)), None)
        if same_type is not None:
            args[name] = unused.pop(same_type)
            continue
        from_history = next((v for v in values if _matches(v, kind)), None)
        if from_history is None:
            return None
        args[name] = from_history
    for name, value in unused.items():
        if name in properties and _matches(value, (properties[name] or {}).get("type", "any")):
            args[name] = value
    return args


def _matches(value: Any, kind: Any) -> bool:
    return {"string": isinstance(value, str), "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "dict": isinstance(value, dict), "object": isinstance(value, dict)}.get(kind, True)


def wrong_tool(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    call = point.gold
    specs = tool_specs(point.functions) or {}
    values = history_values(point.history)
    scored = []
    for name, spec in specs.items():
        if name == call["name"]:
            continue
        args = _fill(spec, call["parameters"], values)
        if args is None:
            continue
        overlap = len(set(args) & set(call["parameters"]))
        scored.append((-overlap, rng.random(), name, args))
    scored.sort()
    return [Proposal(WRONG_TOOL, {"name": name, "parameters": args}, f"wrong_tool:{name}")
            for _, _, name, args in scored]


def _describe(call: dict[str, Any]) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])|_", " ", call["name"]).lower()
    args = ", ".join(f"{k} {v!r}" for k, v in list(call["parameters"].items())[:3])
    return f"{words}" + (f" ({args})" if args else "")


_CHAT_SHORT = ["Done!", "All set.", "Sure, that's taken care of.", "Okay, finished."]
_CHAT_LONG = [
    "I've gone ahead and handled that: {what}. Let me know if there is anything else you need.",
    "Before I continue, could you confirm that you want me to {what}? I want to be sure it's right.",
    "Thanks for the details. I have completed the request ({what}) and everything looks good.",
]


def should_call(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A chat reply where the gold step calls a tool: claims success, or asks needlessly."""
    what = _describe(point.gold)
    replies = [t.format(what=what) for t in _CHAT_LONG] + list(_CHAT_SHORT)
    rng.shuffle(replies)
    return [Proposal(SHOULD_CALL, reply, "chat_instead_of_call") for reply in replies]


def should_chat(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A tool call where the gold step is a reply: the call the user has not asked for yet,
    or one repeating the last call."""
    proposals = []
    if point.call_hint is not None:
        proposals.append(Proposal(SHOULD_CHAT, point.call_hint, "premature_call"))
    last = next((t["content"] for t in reversed(point.history)
                 if t.get("role") == "assistant" and isinstance(t.get("content"), dict)), None)
    if last is not None:
        proposals.append(Proposal(SHOULD_CHAT, last, "repeated_call"))
    return proposals


CALL_OPERATORS = {WRONG_TOOL: wrong_tool, WRONG_PARAMS: wrong_params, SHOULD_CALL: should_call}


def proposals_for(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """All proposals for a point: its error type first (seeded), then the others as fallbacks."""
    if point.is_chat:
        return should_chat(point, rng)
    order = [WRONG_PARAMS, WRONG_TOOL, SHOULD_CALL]
    rng.shuffle(order)
    return [p for error_type in order for p in CALL_OPERATORS[error_type](point, rng)]
