"""Rule-based error injection: the paper's four error types, made so that nothing but the
history tells the chosen action from the rejected one.

`proposals_for(point, rng)` is the one source of wrong actions for a decision point (the
builder takes the first that passes the execution check; a replay policy may take several).
Designed against the shortcuts the artifact audit (`toolprm_tasks.audit`) measures:

- wrong values come from where gold values come from: the same tool's argument in other
  gold calls of the source (`point.gold_calls`), the history and the environment's state,
  the spec's enum; always of the gold value's kind (type and shape), never tool names,
  placeholders or made-up suffixes;
- a wrong tool is drawn in proportion to how often the tool is a gold call, and its
  arguments follow a real gold call of that tool, filled with this step's values;
- a wrong reply (should call, chatted) is written by the same writer (`replies.py`) that
  writes the chosen replies of reply points, in the same three intents: a report of the
  turn's work before it is done, a needless question about a value the user gave, a false
  "no tool can do that"; or, where the source has them, the conversation's own recorded
  reply used too early;
- a wrong call where a reply is due is a gold call of the same conversation made too early,
  a guess for the parameter the user has not given, a substitute for the withheld tool, or a
  repeat of the last call.

Wrong calls stay schema-valid (known tools, required parameters, types and enums).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.core.tool_calls import tool_specs
from toolprm_tasks.rebuild import replies
from toolprm_tasks.rebuild.points import DecisionPoint, history_values, unique, value_key

# paper Fig. 3 wording, as the release writes `error type`
WRONG_TOOL = "wrong tool"
WRONG_PARAMS = "wrong params"
SHOULD_CHAT = "should chat but called a tool"
SHOULD_CALL = "should call a tool but chatted"
CALL_ERROR_TYPES: tuple[str, ...] = (WRONG_PARAMS, WRONG_TOOL, SHOULD_CALL)

# credentials a login hands out, not values the user chooses: never the wrong argument
AUTH_PARAMS = frozenset({"session_token", "access_token"})
_PER_PARAM = 3  # wrong values proposed per parameter
_MAX_TOOLS = 8  # wrong tools proposed per point


@dataclass(frozen=True)
class Proposal:
    error_type: str
    action: Any
    operator: str


class GoldCalls(dict):  # type: ignore[type-arg]
    """Tool name -> the arguments of every gold call of it: a source's value pool, with the
    parameters whose gold value hardly varies worked out once (`changeable`)."""

    def __init__(self, items: Iterable[tuple[str, tuple[dict[str, Any], ...]]]) -> None:
        super().__init__(items)
        self.skewed = frozenset((tool, param) for tool, calls in self.items()
                                for param in {p for args in calls for p in args} if _skewed(calls, param))


def gold_call_index(calls: Iterable[dict[str, Any]]) -> GoldCalls:
    """Tool name -> the arguments of every gold call of it, in order: a source's value pool."""
    index: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            index[call["name"]].append(call.get("parameters") or {})
    return GoldCalls((name, tuple(args)) for name, args in sorted(index.items()))


# ----------------------------------------------------------------------------- values

def _shape(value: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?", value):
        return "datetime"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return "date"
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
        return "time"
    if re.fullmatch(r"[\w.+-]+@[\w-]+\.[\w.]+", value):
        return "email"
    if re.fullmatch(r"[\w\-. ]+\.\w{1,5}", value):
        return "file"
    if "/" in value:
        return "path"
    if re.fullmatch(r"[\d.\-+ ]+", value):
        return "number"
    if " " not in value and re.search(r"\d", value):
        return "id"
    return "word" if len(value.split()) <= 3 else "text"


def kind(value: Any) -> str:
    """A value's type and its shape (strings) or size (numbers: digits before and after the
    point): wrong values keep the gold value's kind, so 12446 is not replaced by 4."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return f"int:{len(str(abs(value)))}"
    if isinstance(value, float):
        whole, _, fraction = repr(abs(value)).partition(".")
        return f"float:{len(whole)}.{len(fraction.rstrip('0')) or 0}"
    if isinstance(value, str):
        return "str:" + _shape(value)
    if isinstance(value, list):
        return "list:" + (kind(value[0]) if value else "empty")
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equal after the normalisation `policy.equivalent` applies (case, spacing, number type)."""
    from toolprm_tasks.rebuild.policy import equivalent

    return equivalent({"name": "", "parameters": {"v": a}}, {"name": "", "parameters": {"v": b}}, None)


def _near(gold: Any) -> list[Any]:
    """Near misses of the gold value, a last resort: neighbouring dates, times, integers."""
    if isinstance(gold, bool):
        return [not gold]
    if isinstance(gold, int):
        return [gold + 1, gold - 1]
    if isinstance(gold, float):
        return [round(gold * 1.1, 2), round(gold * 0.9, 2)]
    if not isinstance(gold, str):
        return []
    shape = _shape(gold)
    if shape in ("date", "datetime"):
        try:
            day = dt.date.fromisoformat(gold[:10])
        except ValueError:
            return []
        return [(day + dt.timedelta(days=d)).isoformat() + gold[10:] for d in (1, -1, 7)]
    if shape == "time":
        hour, rest = gold.split(":", 1)
        return [f"{(int(hour) + d) % 24:0{len(hour)}d}:{rest}" for d in (1, 12)]
    return []


def _interleave(*lists: list[Any]) -> list[Any]:
    out = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


_PLACEHOLDERS = frozenset({"none", "null", "n/a", "na", "unknown", "undefined", "true", "false"})
_SKEW = 0.6  # a parameter whose commonest gold value has a larger share is not changed
_SKEW_MIN = 4  # ... once the source has this many gold calls to tell


def context_values(point: DecisionPoint) -> list[Any]:
    """Values of this conversation: what the history mentions, then what the environment
    holds (placeholder strings left out)."""
    return [v for v in unique([*history_values(point.history), *point.state_values])
            if not (isinstance(v, str) and v.strip().casefold() in _PLACEHOLDERS)]


def pool_values(point: DecisionPoint, tool: str, param: str) -> list[Any]:
    """The values this tool's parameter takes in gold calls of the source (with repeats, so
    a frequent gold value is a frequent wrong value too)."""
    return [args[param] for args in (point.gold_calls or {}).get(tool, ()) if param in args]


def _skewed(calls: Iterable[dict[str, Any]], param: str) -> bool:
    values = [args[param] for args in calls if param in args]
    if len(values) < _SKEW_MIN:
        return False
    counts: dict[Any, int] = defaultdict(int)
    for value in values:
        counts[value_key(value)] += 1
    return max(counts.values()) / len(values) > _SKEW


def changeable(point: DecisionPoint, tool: str, param: str) -> bool:
    """Whether a parameter can take a wrong value without the change showing by itself: not a
    credential, and not one whose gold value hardly varies in the source (a flag that is
    always set, an id every conversation uses), where any other value would mark the
    rejected side."""
    if param in AUTH_PARAMS:
        return False
    pool = point.gold_calls or {}
    if isinstance(pool, GoldCalls):
        return (tool, param) not in pool.skewed
    return not _skewed(pool.get(tool, ()), param)


def wrong_values(gold: Any, tool: str, param: str, prop: dict[str, Any], point: DecisionPoint,
                 rng: random.Random, context: list[Any] | None = None) -> list[Any]:
    """Values that could stand for `gold` but differ from it, in a seeded order: enum members,
    else values of the gold value's kind that this tool's parameter takes in the source's gold
    calls (those the conversation also mentions first), then the conversation's own values,
    then near misses. Gold values first keep wrong values distributed like gold values."""
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        options = [v for v in enum if not _same(v, gold)]
        rng.shuffle(options)
        return options
    target = kind(gold)
    here = [v for v in (context if context is not None else context_values(point)) if kind(v) == target]
    pool = [v for v in pool_values(point, tool, param) if kind(v) == target]
    rng.shuffle(pool)
    rng.shuffle(here)
    local = {value_key(v) for v in here}
    both = [v for v in pool if value_key(v) in local]
    return [v for v in unique([*both, *pool, *here, *_near(gold)]) if not _same(v, gold)]


def _prop(spec: dict[str, Any], name: str) -> dict[str, Any]:
    prop = (spec.get("properties") or {}).get(name)
    return prop if isinstance(prop, dict) else {}


# ----------------------------------------------------------------------------- operators

def wrong_params(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """The gold call with one argument replaced (parameters in seeded order, alternating)."""
    call = point.gold
    spec = (tool_specs(point.functions) or {}).get(call["name"], {})
    context = context_values(point)
    names = sorted(n for n in call["parameters"] if changeable(point, call["name"], n))
    rng.shuffle(names)
    per_param = []
    for name in names:
        values = wrong_values(call["parameters"][name], call["name"], name, _prop(spec, name), point, rng, context)
        per_param.append([Proposal(WRONG_PARAMS, {"name": call["name"], "parameters": {**call["parameters"], name: v}},
                                   f"wrong_params:{name}") for v in values[:_PER_PARAM]])
    return _interleave(*per_param)


def _matches(value: Any, kind_name: Any) -> bool:
    return {"string": isinstance(value, str), "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "dict": isinstance(value, dict), "object": isinstance(value, dict)}.get(kind_name, True)


# kinds distinctive enough that a value of one parameter may stand for another (a file name
# for a file name, a date for a date); a bare word may not ('john' is no airport code)
_MOVABLE = ("str:file", "str:path", "str:email", "str:date", "str:datetime", "str:time", "int:", "float:")


def _fill(name: str, spec: dict[str, Any], base: dict[str, Any], template: dict[str, Any] | None,
          point: DecisionPoint, local: set[Any]) -> dict[str, Any] | None:
    """Arguments for another tool: the parameters a real gold call of it had (`template`),
    else its required ones, in the spec's order. Each value is the step's own argument of the
    same name, else one of the same distinctive kind, else a gold value of that parameter the
    conversation mentions, else the template's gold value."""
    if not spec:
        return dict(base)  # a tool known by name only (GTA without toolmeta): same arguments
    properties = spec.get("properties") or {}
    required = spec.get("required") or []
    wanted = [p for p in properties if p in required or (template is not None and p in template)]
    unused = dict(base)
    args: dict[str, Any] = {}
    for param in wanted:
        type_name = _prop(spec, param).get("type", "any")
        like = template.get(param) if template else None
        if param in unused and _matches(unused[param], type_name):
            args[param] = unused.pop(param)
            continue
        same = next((k for k, v in unused.items() if k not in AUTH_PARAMS and _matches(v, type_name)
                     and like is not None and kind(v) == kind(like) and kind(v).startswith(_MOVABLE)), None)
        if same is not None:
            args[param] = unused.pop(same)
            continue
        known = next((v for v in pool_values(point, name, param) if value_key(v) in local), None)
        if known is not None:
            args[param] = known
        elif like is not None:
            args[param] = like
        elif param in required:
            return None
    return args


def _weighted_order(names: list[str], weights: dict[str, float], rng: random.Random) -> list[str]:
    """A seeded order in which each name comes early in proportion to its weight
    (Efraimidis-Spirakis keys)."""
    keyed = [(rng.random() ** (1.0 / weights[n]), n) for n in names]
    return [n for _, n in sorted(keyed, reverse=True)]


def wrong_tool(point: DecisionPoint, rng: random.Random, base: dict[str, Any] | None = None,
               error_type: str = WRONG_TOOL, operator: str = "wrong_tool") -> list[Proposal]:
    """Another available tool instead of the gold (or `base`) call, tools drawn as often as
    they are gold calls in the source, arguments shaped like a real call of that tool."""
    call = base or point.gold
    specs = tool_specs(point.functions) or {}
    pool = point.gold_calls or {}
    names = sorted(n for n in specs if n != call["name"])
    # tools the source never calls would be a tell (rejected-only names): nearly never drawn
    weights = {n: len(pool.get(n, ())) + 0.02 if pool else 1.0 for n in names}
    local = {value_key(v) for v in context_values(point)}
    proposals = []
    for name in _weighted_order(names, weights, rng):
        calls = pool.get(name, ())
        template = calls[rng.randrange(len(calls))] if calls else None
        args = _fill(name, specs[name], call["parameters"], template, point, local)
        if args is not None:
            proposals.append(Proposal(error_type, {"name": name, "parameters": args}, f"{operator}:{name}"))
        if len(proposals) >= _MAX_TOOLS:
            break
    return proposals


def needless_questions(point: DecisionPoint) -> list[tuple[dict[str, Any], str]]:
    """(call, parameter) pairs of the turn's calls, last call first, whose value the
    conversation already holds: what a needless question could ask for."""
    calls = list(point.turn_calls) or [point.gold]
    return replies.askable(reversed(calls), replies.conversation_text(point.history), skip=AUTH_PARAMS)


def should_call(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A reply where the gold step calls a tool: the source's own reply used too early, then
    written replies in the three intents (seeded order): the turn's work reported as done, a
    needless question about a value the user gave, a false "no tool can do that"."""
    proposals = [Proposal(SHOULD_CALL, text, "premature_reply:recorded") for text in point.wrong_replies
                 if text.strip() and text != point.gold]
    main = (list(point.turn_calls) or [point.gold])[-1]  # the turn's last call: what the request is about
    intents = list(replies.INTENTS)
    rng.shuffle(intents)
    if point.wrong_reply_intent in intents:
        intents.remove(point.wrong_reply_intent)
        intents.insert(0, point.wrong_reply_intent)
    for intent in intents:
        if intent == replies.ASK:
            options = needless_questions(point)
            if not options:
                continue
            call, param = options[rng.randrange(len(options))] if len(options) > 1 else options[0]
            text = replies.write(intent, call, point.functions, point.history, rng, param=param)
        else:
            text = replies.write(intent, main, point.functions, point.history, rng)
        proposals.append(Proposal(SHOULD_CALL, text, f"premature_reply:{intent}"))
    return proposals


def _last_call(point: DecisionPoint) -> dict[str, Any] | None:
    return next((t["content"] for t in reversed(point.history)
                 if t.get("role") == "assistant" and isinstance(t.get("content"), dict)), None)


def should_chat(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A call where the gold step is a reply, by why the reply is due: for a missing
    parameter, the call with a guessed value, then with the value the user gives later; for a
    withheld tool, a substitute tool; otherwise the call the user has not asked for yet. Then
    a repeat of the last call."""
    hint = point.call_hint
    specs = tool_specs(point.functions) or {}
    proposals: list[Proposal] = []
    if hint is not None and point.reply_kind == replies.ASK and point.missing in (hint.get("parameters") or {}):
        gold = hint["parameters"][point.missing]
        for value in wrong_values(gold, hint["name"], point.missing,
                                  _prop(specs.get(hint["name"], {}), point.missing), point, rng)[:_PER_PARAM]:
            proposals.append(Proposal(SHOULD_CHAT, {"name": hint["name"], "parameters": {**hint["parameters"],
                                                                                         point.missing: value}},
                                      "guessed_call"))
    if hint is not None and point.reply_kind == replies.UNAVAILABLE and hint["name"] not in specs:
        substitutes = wrong_tool(point, rng, base=hint, error_type=SHOULD_CHAT, operator="substitute_call")
        # the substitute that carries most of the request's values first: like a wrong reply
        # of a call point, the wrong action stays about what the reply is about
        carried = {value_key(v) for v in hint["parameters"].values()}
        substitutes.sort(key=lambda p: -sum(value_key(v) in carried for v in p.action["parameters"].values()))
        proposals += substitutes[:3]
    last = _last_call(point)
    if last is not None and point.reply_kind == replies.REPORT:
        # the reply reports the last call: repeating it is the wrong call about the same action
        proposals.append(Proposal(SHOULD_CHAT, last, "repeated_call"))
    if hint is not None and hint["name"] in specs:
        proposals.append(Proposal(SHOULD_CHAT, hint, "premature_call"))
    if last is not None and point.reply_kind != replies.REPORT:
        proposals.append(Proposal(SHOULD_CHAT, last, "repeated_call"))
    if specs:  # a call of a tool the step does not offer would be caught by its name alone
        proposals = [p for p in proposals if p.action["name"] in specs]
    return proposals


CALL_OPERATORS = {WRONG_TOOL: wrong_tool, WRONG_PARAMS: wrong_params, SHOULD_CALL: should_call}


def suits(point: DecisionPoint, error_type: str) -> bool:
    """Whether selection should give a call point this error type: wrong params needs an
    argument that can change (`changeable`); should-call goes to the last call of a turn,
    the one a premature report, question or refusal is about, so that calls and replies of
    one topic sit on both sides of call-against-reply cases."""
    if point.is_chat:
        return False
    if error_type == WRONG_PARAMS:
        return any(changeable(point, point.gold["name"], name) for name in point.gold["parameters"])
    if error_type == SHOULD_CALL:
        return len(point.turn_calls) <= 1
    return True


def _key(action: Any) -> str:
    return json.dumps(action, sort_keys=True, ensure_ascii=False)


def iter_proposals(point: DecisionPoint, rng: random.Random, prefer: str | None = None) -> Iterator[Proposal]:
    """`proposals_for`, one at a time: a caller that needs only the first few (the builder
    takes the first that passes its check) does not pay for the rest. Same order, same rng
    use up to the point where the caller stops."""
    from toolprm_tasks.rebuild.policy import equivalent

    if point.is_chat:
        groups: list[Callable[[], list[Proposal]]] = [lambda: should_chat(point, rng)]
    else:
        order = list(CALL_ERROR_TYPES)
        rng.shuffle(order)
        if prefer in order:
            order.remove(prefer)
            order.insert(0, prefer)
        groups = [lambda error_type=error_type: CALL_OPERATORS[error_type](point, rng) for error_type in order]
    seen = {_key(point.gold)}
    for group in groups:
        for proposal in group():
            key = _key(proposal.action)
            if key in seen or equivalent(point.gold, proposal.action, point.functions):
                continue
            seen.add(key)
            yield proposal


def proposals_for(point: DecisionPoint, rng: random.Random, prefer: str | None = None) -> list[Proposal]:
    """Every wrong action for a decision point, in a seeded order: the one source of wrong
    actions of every error type (the builder, the replay policy of the search task).

    Contract: a chat point (`point.is_chat`) gets `should chat but called a tool` proposals
    only; a call point gets `wrong params`, `wrong tool` and `should call a tool but chatted`
    proposals, one error type after another, the types in seeded order with `prefer` (an
    error type) first. No proposal equals the gold action or another proposal, none is the
    same step as the gold by `policy.equivalent`, and wrong calls name tools the point
    offers. The same point and an `rng` in the same state give the same list; wording and
    values vary with the rng and with the point. Points carry what the operators draw on:
    `gold_calls` (the source's gold calls by tool, `gold_call_index`), `state_values`,
    `turn_calls`, `reply_kind`, `missing`, `wrong_replies`; without them the operators fall
    back to the history alone (the sources' `decision_points` and `select` fill them).
    """
    return list(iter_proposals(point, rng, prefer))
