"""Rule-based error injection: the paper's four error types, made like real agent mistakes,
so that telling the chosen action from the rejected one needs the history and the tools'
meaning, not string matching.

`proposals_for(point, rng)` is the one source of wrong actions for a decision point (the
builder takes the first that passes the execution check; a replay policy may take several).
Every proposal names its operator and its relation to the history (`difficulty.RELATIONS`).
Wrong values come from the conversation itself (what the user, the earlier calls and the
tool results say), never from other conversations or from state the history does not show;
an argument is changed only where the history shows its right value.

- wrong params: two arguments swapped; the value the argument had in an earlier call (a
  stale value); another value of the same kind the history holds;
- wrong tool: a later step of the turn made before the step it depends on (a skipped lookup,
  its input passed instead of its output; a file operation before the `cd` it needs), kept only
  where the environment refuses it (`Proposal.needs_error`); a sibling tool of the same class
  whose name and description are close to the right one;
- should call a tool but chatted: the results so far reported as the answer before the
  last needed call; a question for a value the pending call would look up; a false "no tool
  can do that" (replies by the same writer as the chosen replies, `replies.py`);
- should chat but called a tool: for a missing parameter, the call with values guessed from
  the conversation; for a withheld tool, a sibling tool; where the turn's report is due, the
  call the user asks for next, when the history already holds all its values.

Wrong calls stay schema-valid (known tools, required parameters, types and enums).
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from toolprm_tasks.core.grounding import STOPWORDS, HistoryText, content_words, name_words
from toolprm_tasks.core.tool_calls import tool_specs, violations
from toolprm_tasks.rebuild import replies
from toolprm_tasks.rebuild.points import (
    DecisionPoint,
    equivalent,
    json_values,
    normalised,
    text_values,
    turn_so_far,
    unique,
    value_key,
)

# paper Fig. 3 wording, as the release writes `error type`
WRONG_TOOL = "wrong tool"
WRONG_PARAMS = "wrong params"
SHOULD_CHAT = "should chat but called a tool"
SHOULD_CALL = "should call a tool but chatted"
CALL_ERROR_TYPES: tuple[str, ...] = (WRONG_PARAMS, WRONG_TOOL, SHOULD_CALL)

# credentials a login hands out, not values the user chooses: never the wrong argument
AUTH_PARAMS = replies.CREDENTIALS
_PER_PARAM = 5  # wrong values proposed per parameter and operator

# Selection rules a source opts into (`DecisionPoint.rules`), added in build 8 for ToolTalk; a
# source without them keeps its earlier output byte for byte (BFCL passes its audit with the
# build-7 rules).
# NAMED_FIRST: a wrong call made of the history's words first: a wrong-tool or unrequested
# sibling whose tool-name words the history holds is preferred, and the points where one exists
# take the wrong-tool and should-chat slots first (a wrong call whose tool name the conversation
# never used is told from the right one by surface overlap alone).
NAMED_FIRST = "named_first"
# SHIFT_QUOTAS: a reply reason's quota that its points cannot fill goes to the source's other
# reasons (`selection._shift_quotas`), so the two reply types keep their quarters.
SHIFT_QUOTAS = "shift_quotas"
# LENGTH_MATCHED: a sibling call with fewer arguments than the right call comes after those with
# as many (a suite's auth-only tools, GetAccountInformation or LogoutUser, would otherwise make the
# rejected call systematically shorter).
LENGTH_MATCHED = "length_matched"
# GOLD_LIKE_GUESS: a guessed value for a missing parameter is one the parameter takes in some gold
# call of the source (as wrong values are, `_gold_like`), not any value of its kind: build 7 guessed
# a reminder's status ("pending") as a weather location.
GOLD_LIKE_GUESS = "gold_like_guess"
RULES: frozenset[str] = frozenset({NAMED_FIRST, SHIFT_QUOTAS, LENGTH_MATCHED, GOLD_LIKE_GUESS})
# Rules of build 9, for both sources (issue 19's blind reading of build 8 read these cases as
# ambiguous):
# ACTION_SUBSTITUTE: at a "no tool for that" point the wrong call is a tool that acts (changes
# the environment), never a lookup: a lookup (an airport before a missing booking, a forecast
# for withheld current weather) can be a first step of the request, which no reader calls wrong.
# ToolTalk says which tools act (`is_action`, `DecisionPoint.lookup_tools`); BFCL's execution
# check asks the environment (the call must error or change the state).
ACTION_SUBSTITUTE = "action_substitute"
# GROUNDED_GOLD: a call point is used only where the right call's text values are all shown in
# the history (or are credentials): a right call naming a file no listing showed needs a lookup
# first, so a reader cannot tell that it is right.
GROUNDED_GOLD = "grounded_gold"
# GUESS_NOT_NEEDED: a guessed value for a missing parameter is never a value the request's
# other calls take (the other city of a distance, which a lookup of its own also needs): that
# call reads as a first step, not a guess.
GUESS_NOT_NEEDED = "guess_not_needed"
# SAME_EFFECT: a tool is not withheld where an offered tool that acts sets a parameter of the
# same name (ResetPassword's new_password for a withheld ChangePassword): "no tool can do it"
# would be false (ToolTalk, whose tools say whether they act).
SAME_EFFECT = "same_effect"
RULES_9: frozenset[str] = frozenset({ACTION_SUBSTITUTE, GROUNDED_GOLD, GUESS_NOT_NEEDED, SAME_EFFECT})
# Build 9, ToolTalk only (its blind reading of the first build-9 draft read these as unclear;
# BFCL's files stay as they were read):
# REQUEST_WINS: a wrong value is never one the user's latest request names where the right value
# is not named there (ToolTalk's recorded call asks for the user's home city where the request
# names New York: the wrong call reads as the right one).
REQUEST_WINS = "request_wins"
# FULL_REPORT: a report cites every call of the turn and every field of its results, not the
# last four calls and first few fields (seven events created, four ids reported; a weather report
# without its conditions: read as incomplete answers).
FULL_REPORT = "full_report"
# WORKAROUND: a tool that modifies a record is not withheld where the offered tools can delete
# and create that record ("no tool can move the meeting" while delete-and-create would).
WORKAROUND = "workaround"
RULES_9_TOOLTALK: frozenset[str] = frozenset({REQUEST_WINS, FULL_REPORT, WORKAROUND})
# Build 10, ToolTalk only (its blind reading of build 9 read these reports as weak answers):
# ACTS_REPORTED: a report says what each call that acts did, with the values it was given, before
# its result (`replies.report`'s `lookups`): seven created events reported as seven bare ids, or
# two modified events as the same "I used ModifyEvent to allow modification..." twice, left the
# reader unsure the turn was done.
ACTS_REPORTED = "acts_reported"
# LENGTH_SIDES: the choice among a slot's cases (`balance.choose`) also evens out which side
# renders longer: ToolTalk's 102 cases are few enough that "prefer the longer" drifted out of
# 45-55% by one case.
LENGTH_SIDES = "length_sides"
RULES_10_TOOLTALK: frozenset[str] = frozenset({ACTS_REPORTED, LENGTH_SIDES})
# Build 12, both sources (build 11's hard tier failed its audit on the grounding judge: a
# turn's report repeats the tool results' words, a call the user has not asked for does not):
# GROUNDED_SIDES: the choice among a slot's cases (`balance.choose`) also evens out which side the
# history grounds better, per split, error type and tier (`balance.grounded_side`).
GROUNDED_SIDES = "grounded_sides"
RULES_12: frozenset[str] = frozenset({GROUNDED_SIDES})
_SIBLINGS = 6  # closest sibling tools tried per point


_CACHE_SIZE = 256
_CACHES: dict[str, dict[int, tuple[Any, Any]]] = defaultdict(dict)


def _by_object(name: str, obj: Any, compute: Callable[[Any], Any]) -> Any:
    """`compute(obj)` once per object for the latest few objects (histories and tool lists are
    read by every operator of every point; selection asks for each point several times). The
    object is kept with its value, so its id is not reused while cached."""
    cache = _CACHES[name]
    hit = cache.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    value = compute(obj)
    cache[id(obj)] = (obj, value)
    return value


def history_text(history: list[dict[str, Any]]) -> HistoryText:
    return _by_object("history_text", history, HistoryText.of)


@dataclass(frozen=True)
class Proposal:
    error_type: str
    action: Any
    operator: str
    relation: str = "other"  # difficulty.RELATIONS
    # kept only where an environment refuses the action (a skipped precondition must fail there)
    needs_error: bool = False
    # tried before proposals of the same type with a larger number, whatever their balance
    priority: int = 0


class GoldCalls(dict):  # type: ignore[type-arg]
    """Tool name -> the arguments of every gold call of it, with the parameters whose gold value
    hardly varies in the source worked out once (`skewed`)."""

    def __init__(self, items: Iterable[tuple[str, tuple[dict[str, Any], ...]]]) -> None:
        super().__init__(items)
        self.skewed = frozenset((tool, param) for tool, calls in self.items()
                                for param in {p for args in calls for p in args} if _skewed(calls, param))


def gold_call_index(calls: Iterable[dict[str, Any]]) -> GoldCalls:
    """Tool name -> the arguments of every gold call of it, in order."""
    index: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            index[call["name"]].append(call.get("parameters") or {})
    return GoldCalls((name, tuple(args)) for name, args in sorted(index.items()))


# ----------------------------------------------------------------------------- values

@functools.lru_cache(maxsize=65536)
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
    point): a wrong value keeps the right value's kind, so 12446 is not replaced by 4."""
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
    """Equal after the normalisation `points.equivalent` applies (case, spacing, number type)."""
    if isinstance(a, bool) != isinstance(b, bool):  # True is no 1, however Python compares them
        return False
    return a == b or normalised(a) == normalised(b)


_SKEW = 0.6  # a parameter whose commonest gold value has a larger share is not changed
_SKEW_MIN = 4  # ... once the source has this many gold calls to tell
_PLACEHOLDERS = frozenset({"none", "null", "n/a", "na", "unknown", "undefined", "true", "false"})


def _skewed(calls: Iterable[dict[str, Any]], param: str) -> bool:
    values = [args[param] for args in calls if param in args]
    if len(values) < _SKEW_MIN:
        return False
    counts: dict[Any, int] = defaultdict(int)
    for value in values:
        counts[value_key(value)] += 1
    return max(counts.values()) / len(values) > _SKEW


def changeable(point: DecisionPoint, tool: str, param: str) -> bool:
    """Whether a parameter may take a wrong value without the change showing by itself: not a
    credential, not a flag, and not one whose gold value hardly varies in the source (where
    any other value would mark the rejected side)."""
    if param in AUTH_PARAMS or isinstance(point.gold["parameters"].get(param), bool):
        return False
    pool = point.gold_calls or {}
    if isinstance(pool, GoldCalls):
        return (tool, param) not in pool.skewed
    return not _skewed(pool.get(tool, ()), param)


def _shown(value: Any, history: HistoryText) -> bool:
    """Whether the history shows the value (every member, for a list)."""
    if isinstance(value, list):
        return bool(value) and all(_shown(v, history) for v in value)
    if isinstance(value, (dict, bool)) or value is None:
        return False
    return history.has_value(value)


# capitalised names inside a sentence ("between Rivermist and Stonebrook"): values a user names
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w&-]+(?:\s+[A-Z][\w&-]+){0,2}")


@dataclass(frozen=True)
class Mention:
    value: Any
    origin: str  # "user" | "assistant" | "call" | "observation"
    tool: str | None = None  # origin "call": the call's tool and parameter
    param: str | None = None


def mentions(history: list[dict[str, Any]]) -> list[Mention]:
    """Every value the history names (`_mentions`), read once per history."""
    return _by_object("mentions", history, _mentions)


def _mentions(history: list[dict[str, Any]]) -> list[Mention]:
    """Every value the history names, in order: quoted strings, entities and names in what the
    user and the assistant wrote, the arguments of earlier calls, the fields of observations."""
    out: list[Mention] = []
    for turn in history:
        out += _turn_mentions(turn)
    return out


_TURN_MENTIONS: dict[int, tuple[dict[str, Any], list[Mention]]] = {}


def _turn_mentions(turn: dict[str, Any]) -> list[Mention]:
    """One turn's mentions, read once per turn object (a conversation's points share their
    histories' turns, so each turn is read once, not once per later point)."""
    hit = _TURN_MENTIONS.get(id(turn))
    if hit is not None and hit[0] is turn:
        return hit[1]
    if len(_TURN_MENTIONS) > 200_000:
        _TURN_MENTIONS.clear()
    out: list[Mention] = []
    content, role = turn.get("content"), turn.get("role")
    if isinstance(content, dict):
        for param, value in (content.get("parameters") or {}).items():
            out.append(Mention(value, "call", content.get("name"), param))
    elif role == "tool" and isinstance(content, str):
        found: list[Any] = []
        try:
            json_values(json.loads(content), found)
        except json.JSONDecodeError:
            found = text_values(content)
        out += [Mention(v, "observation") for v in found]
    elif isinstance(content, str):
        origin = "user" if role == "user" else "assistant"
        names = [m.group(0) for m in _NAME.finditer(content)
                 if m.group(0).casefold() not in _PLACEHOLDERS and m.group(0).casefold() not in STOPWORDS]
        out += [Mention(v, origin) for v in [*text_values(content), *names]]
    out = [m for m in out if not (isinstance(m.value, str) and (not m.value.strip()
                                                                 or m.value.strip().casefold() in _PLACEHOLDERS))]
    _TURN_MENTIONS[id(turn)] = (turn, out)
    return out


def _prop(spec: dict[str, Any], name: str) -> dict[str, Any]:
    prop = (spec.get("properties") or {}).get(name)
    return prop if isinstance(prop, dict) else {}


_ENUM_TEXT = re.compile(r"\[Enum\]:\s*\[([^\]]*)\]")


def enum_of(prop: dict[str, Any]) -> list[Any] | None:
    """A parameter's allowed values: its `enum`, or the list BFCL writes into its description
    ("[Enum]: ["on", "off"]")."""
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum
    match = _ENUM_TEXT.search(str(prop.get("description") or ""))
    if match:
        try:
            values = json.loads(f"[{match.group(1)}]")
        except json.JSONDecodeError:
            return None
        return values if isinstance(values, list) and values else None
    return None


def _allowed(value: Any, prop: dict[str, Any]) -> bool:
    enum = enum_of(prop)
    return enum is None or any(_same(value, e) for e in enum)


def _later_values(point: DecisionPoint, tool: str, param: str) -> list[Any]:
    """The values this tool's parameter takes in the turn's later calls: doing those first is
    another order of the same work, not a mistake."""
    return [c["parameters"][param] for c in point.turn_calls[1:]
            if c.get("name") == tool and param in (c.get("parameters") or {})]


def _usable(value: Any, gold: Any, prop: dict[str, Any], later: list[Any]) -> bool:
    return (kind(value) == kind(gold) and not _same(value, gold) and _allowed(value, prop)
            and not any(_same(value, v) for v in later))


def missing_values(later_calls: list[dict[str, Any]], answer: str,
                   said: str) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The call a request needs and the parameters the user had not given: the values that the
    user's answer (the next user turn) names and nothing before did, all of one call (the
    first call that takes such a value); else the first call's values the answer repeats (the
    request named them in another role: "juxtapose it with X" before "the file to move is X").
    Nothing found: (None, ())."""
    def named(call: dict[str, Any], new: bool) -> tuple[str, ...]:
        return tuple(name for name, value in call["parameters"].items()
                     if name not in AUTH_PARAMS and not isinstance(value, bool) and replies.mentioned(value, answer)
                     and not (new and replies.mentioned(value, said)))

    for new in (True, False):
        for call in later_calls:
            found = named(call, new)
            if found:
                return call, found
    return None, ()


# ----------------------------------------------------------------------------- siblings

def _description(functions: Any, name: str) -> tuple[str, str]:
    """(class, what the tool does): BFCL prefixes each description with its class."""
    text = replies.description_of(functions, name)
    if "Tool description:" in text:
        head, _, tail = text.partition("Tool description:")
        return head.strip(), tail.strip()
    return "", text.strip()


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def sibling_tools(name: str, functions: Any, classes: dict[str, str] | None = None) -> list[str]:
    """`_siblings`, worked out once per tool list."""
    table = _by_object("siblings", functions, lambda _: {})
    if name not in table:
        table[name] = _siblings(name, functions, classes)
    return table[name]


def _siblings(name: str, functions: Any, classes: dict[str, str] | None = None) -> list[str]:
    """Offered tools of the same class as `name` (`classes`: tool -> class, where the source
    says it; else the class preamble of BFCL's descriptions), closest first: overlap of their
    names' words and of their descriptions' content words. A tool whose description is the
    same as the right one's (two sources of one fact) is no mistake and is left out."""
    specs = tool_specs(functions) or {}
    group, text = _description(functions, name)
    if classes:
        group = classes.get(name, group)
    own_name, own_text = set(name_words(name)), set(content_words(text))
    scored = []
    for other in sorted(specs):
        if other == name:
            continue
        other_group, other_text = _description(functions, other)
        if classes:
            other_group = classes.get(other, other_group)
        if other_group != group or other_text == text:
            continue
        score = _dice(own_name, set(name_words(other))) + _dice(own_text, set(content_words(other_text)))
        if score > 0:
            scored.append((-score, other))
    return [other for _, other in sorted(scored)]


def _matches(value: Any, kind_name: Any) -> bool:
    return {"string": isinstance(value, str), "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "dict": isinstance(value, dict), "object": isinstance(value, dict)}.get(kind_name, True)


def _fill(spec: dict[str, Any], base: dict[str, Any], template: dict[str, Any] | None,
          found: list[Mention], right: Callable[[str], Callable[[Any], bool]]) -> dict[str, Any] | None:
    """Arguments for another tool: the parameters a real gold call of it had (`template`) and
    its required ones. Each takes the right call's argument of the same name, else one of the
    same type (each used once), else a value the history holds of the template's kind that the
    parameter takes in some gold call (`right(param)`; its own earlier value first); a
    required parameter left without one: None."""
    if not spec:
        return dict(base)  # a tool known by name only (GTA without toolmeta): same arguments
    required = spec.get("required") or []
    unused = dict(base)
    args: dict[str, Any] = {}
    for param in spec.get("properties") or {}:
        if param not in required and (template is None or param not in template):
            continue
        prop = _prop(spec, param)
        type_name = prop.get("type", "any")
        if param in unused and _matches(unused[param], type_name):
            args[param] = unused.pop(param)
            continue
        like = template.get(param) if template else None
        like_kind = kind(like) if like is not None else None
        # a value of a distinctive kind may move to a parameter of another name (a file name to a
        # file name, a date to a date); a bare word or number may not (a sector is no symbol)
        same = next((k for k, v in unused.items() if k not in AUTH_PARAMS and _matches(v, type_name)
                     and _allowed(v, prop) and kind(v).startswith(_MOVABLE)
                     and (like_kind is None or kind(v) == like_kind)), None)
        if same is not None:
            args[param] = unused.pop(same)
            continue
        value = None
        if like is not None:
            credentials = [v for k, v in base.items() if k in AUTH_PARAMS]
            known = [m.value for m in found if m.param == param] + [m.value for m in found]
            wanted, takes = like_kind, right(param)
            # the first that fits; a session token is no password (checked last: the dearest test)
            value = next((v for v in known if kind(v) == wanted and _matches(v, type_name)
                          and _allowed(v, prop) and takes(v) and not _inside(v, credentials)), None)
        if value is not None:
            args[param] = value
        elif param in required:
            return None
    return args


def _named(tool: str, history: HistoryText) -> bool:
    """Whether every content word of a tool's name is a word of the history."""
    return all(w in history.words for w in name_words(tool))


_MOVABLE = ("str:file", "str:path", "str:email", "str:date", "str:datetime", "str:time")


def _weighted_order(names: list[str], weights: dict[str, float], rng: random.Random) -> list[str]:
    """A seeded order in which each name comes early in proportion to its weight
    (Efraimidis-Spirakis keys)."""
    keyed = [(rng.random() ** (1.0 / weights[n]), n) for n in names]
    return [n for _, n in sorted(keyed, reverse=True)]


def sibling_calls(point: DecisionPoint, base: dict[str, Any], rng: random.Random, error_type: str,
                  operator: str, catalogue: Any = None, relation: str = "sibling_tool") -> list[Proposal]:
    """Calls of `base`'s closest sibling tools among the offered ones (`catalogue`: where the
    siblings are looked up, when `base`'s tool is not offered): the closest few, each drawn as
    often as it is a gold call in the source (a tool the source seldom calls would mark the
    rejected side), with arguments shaped like a real call of it."""
    specs = tool_specs(point.functions) or {}
    pool = point.gold_calls or {}
    names = [n for n in sibling_tools(base["name"], catalogue or point.functions, point.tool_classes)
             if n in specs][:_SIBLINGS]
    weights = {n: len(pool.get(n, ())) + 0.5 for n in names}
    found = mentions(point.history)
    history = history_text(point.history)
    # siblings whose names use the conversation's own words first: then the tools' meaning,
    # not a word the request happens to use, tells the right one
    out = []
    for name in _weighted_order(names, weights, rng):
        calls = pool.get(name, ())
        template = calls[rng.randrange(len(calls))] if calls else None
        args = _fill(specs[name], base.get("parameters") or {}, template, found,
                     lambda param, name=name: _gold_like(point, name, param))
        action = {"name": name, "parameters": args} if args is not None else None
        # the shape of the right call (arguments, or none): an empty call where the right one
        # has arguments would mark the wrong side by its shape alone
        if action is not None and bool(args) == bool(base.get("parameters")) \
                and violations(action, point.functions) == 0:
            priority = 0 if _named(name, history) else 1
            if LENGTH_MATCHED in point.rules and error_type == WRONG_TOOL:
                # fewer arguments than the right call (against which it is judged): a shape that marks the wrong side
                priority = 2 * priority + (len(args) < len(base.get("parameters") or {}))
            out.append(Proposal(error_type, action, f"{operator}:{name}", relation, priority=priority))
    return out


# ----------------------------------------------------------------------------- dependencies

def _observed(value: Any, observation: str) -> bool:
    found: list[Any] = []
    try:
        json_values(json.loads(observation), found)
    except (json.JSONDecodeError, TypeError):
        return False
    return any(_same(value, v) for v in found)


def dependencies(point: DecisionPoint) -> list[tuple[int, str, int]]:
    """(j, parameter, k): the turn's later call j takes that parameter's value from the
    observation of call k (this one or a later one before j), and the history does not hold
    it yet: the value must be looked up first."""
    history = history_text(point.history)
    calls, observations = point.turn_calls, point.turn_observations
    out = []
    for j in range(1, min(len(calls), len(observations))):
        for param, value in (calls[j].get("parameters") or {}).items():
            if param in AUTH_PARAMS or isinstance(value, (bool, dict, list)) or _shown(value, history):
                continue
            producer = next((k for k in range(j) if _observed(value, observations[k])), None)
            if producer is not None:
                out.append((j, param, producer))
    return out


def _input_of(call: dict[str, Any], history: HistoryText) -> Any:
    """What a lookup was given: its first argument the history shows (a city for a zipcode)."""
    return next((v for k, v in (call.get("parameters") or {}).items()
                 if k not in AUTH_PARAMS and isinstance(v, str) and _shown(v, history)), None)


def skipped_steps(point: DecisionPoint) -> list[dict[str, Any]]:
    """The turn's later calls made now, before the steps they depend on: a value a skipped
    lookup would return is replaced by what the lookup was given (the city for its zipcode);
    a call with a value the history cannot supply is left out."""
    history = history_text(point.history)
    needs = defaultdict(dict)
    for j, param, k in dependencies(point):
        needs[j][param] = k
    out = []
    for j in range(1, len(point.turn_calls)):
        call = point.turn_calls[j]
        args = dict(call.get("parameters") or {})
        for param, k in needs.get(j, {}).items():
            given = _input_of(point.turn_calls[k], history)
            if given is None:
                break
            args[param] = given
        else:
            grounded = all(_shown(v, history) or k in AUTH_PARAMS for k, v in args.items() if not isinstance(v, bool))
            if grounded and (needs.get(j) or _stated(call["name"], [c["name"] for c in point.turn_calls[:j]],
                                                     point.functions)):
                out.append({"name": call["name"], "parameters": args})
    return out


def _tool_words(functions: Any, name: str, with_params: bool) -> set[str]:
    """`_read_tool_words`, once per tool list."""
    table = _by_object("tool_words", functions, lambda _: {})
    if (name, with_params) not in table:
        table[name, with_params] = _read_tool_words(functions, name, with_params)
    return table[name, with_params]


def _read_tool_words(functions: Any, name: str, with_params: bool) -> set[str]:
    """Content words of what a tool does (its description without the class's preamble, and
    its parameters' descriptions), less the words its class's preamble uses for every tool."""
    group, text = _description(functions, name)
    spec = (tool_specs(functions) or {}).get(name, {})
    if with_params:
        text += " " + " ".join(str(p.get("description") or "") for p in (spec.get("properties") or {}).values()
                               if isinstance(p, dict))
    return set(content_words(text)) - set(content_words(group))


def _stated(later: str, skipped: list[str], functions: Any) -> bool:
    """Whether the tools' own descriptions show that `later` depends on a skipped step: a
    word of a skipped tool's description recurs in the later tool's description or its
    parameters' ("Source must be local to the current directory" after "Change the current
    working directory"). A dependency only the environment knows (a brake pressed before the
    engine starts) is not shown, and not used."""
    words = _tool_words(functions, later, with_params=True)
    return any(words & _tool_words(functions, name, with_params=False) for name in skipped if name != later)


# ----------------------------------------------------------------------------- operators

def wrong_params(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """The gold call with arguments changed, where the history shows the right value: two
    swapped, one given its value from an earlier call, one given another value of the same
    kind from the history (user, calls, observations). Parameters in seeded order."""
    call = point.gold
    args = call["parameters"]
    spec = (tool_specs(point.functions) or {}).get(call["name"], {})
    history = history_text(point.history)
    names = sorted(n for n in args if changeable(point, call["name"], n) and _shown(args[n], history))
    rng.shuffle(names)
    found = mentions(point.history)
    request = next((t["content"] for t in reversed(point.history) if t.get("role") == "user"
                    and isinstance(t.get("content"), str)), "").casefold()
    swapped, stale, other = [], [], []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = args[first], args[second]
            if _symmetric(first, second) or not _same_role(point, call["name"], first, second):
                continue
            if kind(a) == kind(b) and not _same(a, b) and _allowed(b, _prop(spec, first)) \
                    and _allowed(a, _prop(spec, second)):
                action = {"name": call["name"], "parameters": {**args, first: b, second: a}}
                swapped.append(Proposal(WRONG_PARAMS, action, f"swap:{first}+{second}", "swapped"))
    for name in names:
        prop, later = _prop(spec, name), _later_values(point, call["name"], name)
        right = _gold_like(point, call["name"], name)
        old = unique(m.value for m in reversed(found) if m.origin == "call" and m.param == name
                     and _usable(m.value, args[name], prop, later) and right(m.value))
        here = unique(m.value for m in found if _usable(m.value, args[name], prop, later) and right(m.value))
        # a value another argument already has would leave the wrong call with no token of its
        # own (a set of tokens inside the right call's): a shape only wrong calls would have
        others = [v for k, v in args.items() if k != name]
        old = [v for v in old if not _inside(v, others)]
        here = [v for v in here if not _inside(v, [*old, *others]) and not _inside(v, [args[name]], part_only=True)]
        here = _like_gold(here, pool_values(point, call["name"], name), rng)
        make = lambda v, rel, op, name=name: Proposal(  # noqa: E731
            WRONG_PARAMS, {"name": call["name"], "parameters": {**args, name: v}}, f"{op}:{name}", rel)
        if REQUEST_WINS in point.rules and not replies.mentioned(args[name], request):
            old = [v for v in old if not replies.mentioned(v, request)]
            here = [v for v in here if not replies.mentioned(v, request)]
        stale.append([make(v, "stale_value", "stale_value") for v in old[:_PER_PARAM]])
        other.append([make(v, "grounded_value", "history_value") for v in here[:_PER_PARAM]])
    return swapped + _interleave(*stale) + _interleave(*other)


def pool_values(point: DecisionPoint, tool: str, param: str) -> list[Any]:
    """The values this tool's parameter takes in gold calls of the source (with repeats)."""
    return [args[param] for args in (point.gold_calls or {}).get(tool, ()) if param in args]


_DIVERSE = 0.8  # a parameter whose gold values are this unique has no vocabulary of its own
_RARE = 0.05  # the weight of a value the source's gold calls never give this parameter


def _like_gold(values: list[Any], gold: list[Any], rng: random.Random) -> list[Any]:
    """The conversation's candidate values in a seeded order in which each comes early in
    proportion to how often it is this parameter's gold value in the source: wrong values
    then follow the gold values' distribution, so no value marks the rejected side."""
    counts: dict[Any, int] = defaultdict(int)
    for value in gold:
        counts[value_key(value)] += 1
    keyed = [(rng.random() ** (1.0 / (counts.get(value_key(v), 0) + _RARE)), i) for i, v in enumerate(values)]
    return [values[i] for _, i in sorted(keyed, reverse=True)]


def _same_role(point: DecisionPoint, tool: str, first: str, second: str) -> bool:
    """Whether two parameters take values of one kind of thing: they share a gold value in the
    source (from and to airports, source and destination files), so a swap is a plausible
    confusion, not a class in a city's place. Without the source's calls: true."""
    if not point.gold_calls:
        return True
    ones = {value_key(v) for v in pool_values(point, tool, first)}
    return any(value_key(v) in ones for v in pool_values(point, tool, second))


def _norm_key(value: Any) -> Any:
    return value_key(" ".join(value.casefold().split()) if isinstance(value, str)
                     else float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value)


def _gold_like(point: DecisionPoint, tool: str, param: str) -> Callable[[Any], bool]:
    """Whether a value is one this parameter takes in some gold call of the source: a wrong
    value is a right value of another case, so values never mark the wrong side (a company's
    name where every gold call of the tool has a ticker symbol would). Where its gold values
    hardly recur: a value some gold call gives a parameter of the same name (`_role_values`).
    Without the source's calls for the parameter: any value."""
    values, _ = _gold_values(point, tool, param)
    if values is None:
        return _any_value
    return lambda value: _norm_key(value) in values


def _gold_values(point: DecisionPoint, tool: str, param: str) -> tuple[frozenset[Any] | None, bool]:
    """The values `_gold_like` admits (None: any) and whether they are the role's values (the
    parameter's own gold values hardly recur), worked out once per source pool."""
    table = _by_object("gold_like", point.gold_calls, lambda _: {})  # one pool serves every point
    if (tool, param) not in table:
        pool = [_norm_key(v) for v in pool_values(point, tool, param)]
        values = frozenset(pool)
        if not values:
            table[tool, param] = None, False
        elif len(values) > _DIVERSE * len(pool):
            # values that hardly recur (ToolTalk's ids, names, texts) mark nothing by themselves,
            # but their role does: a city is no username, a status word no password
            table[tool, param] = _role_values(point, param), True
        else:
            table[tool, param] = values, False
    return table[tool, param]


def _role_values(point: DecisionPoint, param: str) -> frozenset[Any]:
    """The values any gold call of the source gives a parameter of this name (any tool's
    `username`, `location`, `reminder_id`): what a value of the role looks like."""
    return frozenset(_norm_key(args[param]) for calls in (point.gold_calls or {}).values()
                     for args in calls if param in args)


def role_fits(point: DecisionPoint, tool: str, param: str) -> Callable[[Any], bool]:
    """`_gold_like` where the parameter's gold values hardly recur (a value some gold call gives
    a parameter of this name); any value where they recur or the source's calls are unknown
    (there any value of the conversation of the right kind is a plausible guess)."""
    values, by_role = _gold_values(point, tool, param)
    if values is None or not by_role:
        return _any_value
    return lambda value: _norm_key(value) in values


def _any_value(value: Any) -> bool:
    return True


def _inside(value: Any, others: list[Any], part_only: bool = False) -> bool:
    """Whether `value` is one of `others`, or a piece of one of their texts (a word of the new
    password is no plausible old password); `part_only`: a piece only."""
    for other in others:
        if not part_only and _same(value, other):
            return True
        if isinstance(value, str) and isinstance(other, str) and value.strip() \
                and value.casefold() != other.casefold() and value.casefold() in other.casefold():
            return True
    return False


def _symmetric(first: str, second: str) -> bool:
    """Two parameters that differ only by a last letter or digit (`file_name1`/`file_name2`,
    `cityA`/`cityB`): which is which is seldom what a request decides, so a swap is no mistake."""
    return len(first) == len(second) > 1 and first[:-1] == second[:-1]


def _interleave(*lists: list[Any]) -> list[Any]:
    out = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def wrong_tool(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A later step of the turn made too early (kept only where the environment refuses it),
    and sibling tools of the same class; which comes first is seeded."""
    early = [Proposal(WRONG_TOOL if c["name"] != point.gold["name"] else WRONG_PARAMS, c, f"skipped_step:{c['name']}",
                      "precondition", needs_error=True) for c in skipped_steps(point)]
    siblings = sibling_calls(point, point.gold, rng, WRONG_TOOL, "sibling_tool")
    return early + siblings if rng.random() < 0.5 else siblings + early


def lookup_questions(point: DecisionPoint) -> list[tuple[dict[str, Any], str]]:
    """(call, parameter): what a question could ask the user for that the pending calls would
    look up (the later call's value comes from this step's or a following step's result)."""
    return [(point.turn_calls[j], param) for j, param, _ in dependencies(point)]


def known_questions(point: DecisionPoint) -> list[tuple[dict[str, Any], str]]:
    """(call, parameter): a parameter of the right call whose value an earlier tool result or
    call of the conversation holds and the user never said (a file that a listing showed, an
    order id a purchase returned): asking the user for it forgets the history."""
    if point.is_chat:
        return []
    said = replies.user_text(point.history)
    found = mentions(point.history)
    out = []
    for param, value in (point.gold.get("parameters") or {}).items():
        if param in AUTH_PARAMS or isinstance(value, (bool, dict, list)) or replies.mentioned(value, said):
            continue
        if any(m.origin in ("observation", "call") and _same(m.value, value) for m in found):
            out.append((point.gold, param))
    return out


def question_options(point: DecisionPoint) -> list[tuple[dict[str, Any], str, str]]:
    """(call, parameter, operator) for a needless question: a value the pending calls would
    look up, or one the history's tool results already hold."""
    return [(c, p, "lookup_question") for c, p in lookup_questions(point)] + \
        [(c, p, "known_question") for c, p in known_questions(point)]


def answerable(point: DecisionPoint) -> tuple[list[tuple[dict[str, Any], str]], str]:
    """What an answer given too early reports, and how: the turn's results so far
    (`early_answer`); at a turn's first call, the previous turn's results, where the request
    now needs another tool (`stale_answer`: the last answer repeated instead of the new call)."""
    done = turn_so_far(point.history)
    if done:
        return done, "early_answer"
    previous = turn_so_far(point.history, back=1)
    if previous and not point.is_chat and point.gold["name"] not in {c["name"] for c, _ in previous}:
        return previous, "stale_answer"
    return [], ""


def should_call(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A reply where the gold step calls a tool: the results so far reported as the answer; a
    question for a value the pending call would look up; a false "no tool can do that". The
    intent selection dealt (`wrong_reply_intent`) only, where it dealt one (so replies on both
    sides keep the shares it balanced); else all three in seeded order."""
    intents = list(replies.INTENTS)
    rng.shuffle(intents)
    if point.wrong_reply_intent in intents:  # dealt by selection: that intent only
        intents = [point.wrong_reply_intent]
    main = (list(point.turn_calls) or [point.gold])[-1]  # the turn's last call: what the request is about
    proposals = []
    for intent in intents:
        if intent == replies.REPORT:
            done, operator = answerable(point)
            if done:
                text = replies.report(done, point.functions, point.history, rng, FULL_REPORT in point.rules,
                                      point.lookup_tools if ACTS_REPORTED in point.rules else None)
                proposals.append(Proposal(SHOULD_CALL, text,
                                          operator, "early_answer"))
        elif intent == replies.ASK:
            options = question_options(point)
            if options:
                call, param, operator = options[rng.randrange(len(options))]
                proposals.append(Proposal(SHOULD_CALL, replies.ask(call, [param], point.functions, point.history, rng),
                                          operator, "needless_question"))
        else:
            proposals.append(Proposal(SHOULD_CALL, replies.write(replies.UNAVAILABLE, main, point.functions,
                                                                 point.history, rng), "false_refusal", "false_refusal"))
    return proposals


def guessed_calls(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """The call the user's request needs, its missing values guessed from the conversation
    (values of the same kind the history holds, never the one the user gives later)."""
    hint = point.call_hint
    if hint is None or not point.missing_params:
        return []
    spec = (tool_specs(point.functions) or {}).get(hint["name"], {})
    found = mentions(point.history)
    options = []
    for param in point.missing_params:
        gold = hint["parameters"][param]
        # never a value another argument of the call has ('Buy' as the symbol of a buy order)
        others = [v for k, v in hint["parameters"].items() if k not in point.missing_params]
        fits = role_fits(point, hint["name"], param)  # a city is no guessed username
        if GOLD_LIKE_GUESS in point.rules:  # and a status word no location: a value the parameter takes
            fits = _gold_like(point, hint["name"], param)
        # GUESS_NOT_NEEDED: nor a value the request's other calls take (a first step, not a guess)
        needed = [v for c in point.turn_calls[1:] for v in (c.get("parameters") or {}).values()] \
            if GUESS_NOT_NEEDED in point.rules else []
        values = unique(m.value for m in found if _usable(m.value, gold, _prop(spec, param), needed)
                        and not any(_same(m.value, o) for o in others) and fits(m.value))
        rng.shuffle(values)
        if not values:
            return []
        options.append(values)
    out = []
    for i in range(min(len(v) for v in options)):
        guess = {p: values[i] for p, values in zip(point.missing_params, options, strict=True)}
        out.append(Proposal(SHOULD_CHAT, {"name": hint["name"], "parameters": {**hint["parameters"], **guess}},
                            "guessed_call", "grounded_guess"))
    return out[:_PER_PARAM]


def should_chat(point: DecisionPoint, rng: random.Random) -> list[Proposal]:
    """A call where the gold step is a reply, by why the reply is due: for missing parameters
    the call with guessed values; for a withheld tool a sibling tool; where the turn's report is
    due, the call the user asks for next, if the history already holds all its values."""
    hint = point.call_hint
    specs = tool_specs(point.functions) or {}
    proposals: list[Proposal] = []
    if point.reply_kind == replies.ASK:
        proposals += guessed_calls(point, rng)
    elif point.reply_kind == replies.UNAVAILABLE and hint is not None and hint["name"] not in specs:
        # the withheld tool's siblings among the offered ones (a class's tools share a description prefix)
        catalogue = [*point.functions, point.withheld_spec or {"name": hint["name"]}]
        planned = {c.get("name") for c in point.turn_calls}
        if ACTION_SUBSTITUTE in point.rules:  # a lookup can be a first step of the request
            planned |= point.lookup_tools
        proposals += [p for p in sibling_calls(point, hint, rng, SHOULD_CHAT, "substitute_call", catalogue,
                                               "substitute_tool") if p.action["name"] not in planned]
    elif hint is not None and hint["name"] in specs:
        history = history_text(point.history)
        last = next((t["content"] for t in reversed(point.history)
                     if t.get("role") == "assistant" and isinstance(t.get("content"), dict)), None)
        if hint == last:  # a source without reasons (GTA's final answer): the last call again
            if point.reply_kind is None:
                proposals.append(Proposal(SHOULD_CHAT, hint, "repeated_call", "repeated_call"))
        elif all(_shown(v, history) or k in AUTH_PARAMS for k, v in hint["parameters"].items()
                 if not isinstance(v, bool)):
            proposals.append(Proposal(SHOULD_CHAT, hint, "unrequested_call", "unrequested_call"))
    if point.reply_kind in (replies.REPORT, "text") and point.turn_calls:
        # after the turn's work, another tool of its class on the same things, unasked (deleting
        # the reminder just completed): after the next request's call, where that is not grounded
        done = point.turn_calls[-1]
        proposals += [replace(p, priority=1 + (p.priority if NAMED_FIRST in point.rules else 0)) for p in sibling_calls(point, done, rng, SHOULD_CHAT, "unrequested_sibling",
                                                                   relation="unrequested_call")]
    # a call already made is the last call repeated, not a new one (GTA's own repeat aside)
    made = [t["content"] for t in point.history if t.get("role") == "assistant" and isinstance(t.get("content"), dict)]
    return [p for p in proposals if (not specs or p.action["name"] in specs)
            and (p.relation == "repeated_call" or p.action not in made)]


CALL_OPERATORS: dict[str, Callable[[DecisionPoint, random.Random], list[Proposal]]] = {
    WRONG_TOOL: wrong_tool, WRONG_PARAMS: wrong_params, SHOULD_CALL: should_call}


def intent_applies(point: DecisionPoint, intent: str) -> bool:
    """Whether a should-call wrong reply of this intent can be written at the point: a report
    needs results of the turn so far, a question a value the pending calls look up or the
    history holds."""
    if intent == replies.REPORT:
        return bool(answerable(point)[0])
    if intent == replies.ASK:
        return bool(question_options(point))
    return True


def fit(point: DecisionPoint, error_type: str, intent: str | None = None) -> int:
    """How well a call point takes an error type: 2 where an operator that needs the history
    applies (HARD_RELATIONS; for should-call with an `intent`, where that intent applies), 1
    where only another one does, 0 where none does; for wrong tool under the source's
    NAMED_FIRST / LENGTH_MATCHED rules, 2 plus the best sibling's `_sibling_merit`."""
    from toolprm_tasks.rebuild.difficulty import HARD_RELATIONS

    if point.is_chat:
        return 0
    if error_type == SHOULD_CALL and intent is not None:
        return 2 if intent_applies(point, intent) else 1
    proposals = CALL_OPERATORS[error_type](point, random.Random(0))
    if not proposals:
        return 0
    if error_type == WRONG_TOOL and point.rules & {NAMED_FIRST, LENGTH_MATCHED}:
        # the points whose best wrong call is named in the history and as long as the right one first
        return 2 + max(_sibling_merit(point, p.action) for p in proposals)
    return 2 if any(p.relation in HARD_RELATIONS for p in proposals) else 1


def _sibling_merit(point: DecisionPoint, action: Any) -> int:
    """Under the source's rules, how many of NAMED_FIRST's and LENGTH_MATCHED's properties a
    wrong call has: made of the history's words; no fewer arguments than the right call."""
    named = NAMED_FIRST in point.rules and named_call(point, action)
    long_enough = LENGTH_MATCHED in point.rules and isinstance(action, dict) \
        and len(action.get("parameters") or {}) >= len(point.gold.get("parameters") or {})
    return 2 * int(named) + int(long_enough)  # the same order as the siblings' priority


def named_call(point: DecisionPoint, action: Any) -> bool:
    """A wrong call made of the history's words: its tool-name words and its values are all in
    the history (a reply is written of them by construction)."""
    if not isinstance(action, dict):
        return True
    history = history_text(point.history)
    return _named(action["name"], history) and all(
        _shown(v, history) or k in AUTH_PARAMS for k, v in (action.get("parameters") or {}).items()
        if not isinstance(v, bool))


def suits(point: DecisionPoint, error_type: str) -> bool:
    """Whether a call point can take the error type at all."""
    return fit(point, error_type) > 0


def _key(action: Any) -> str:
    return json.dumps(action, sort_keys=True, ensure_ascii=False)


def iter_proposals(point: DecisionPoint, rng: random.Random, prefer: str | None = None) -> Iterator[Proposal]:
    """`proposals_for`, one at a time: a caller that needs only the first few (the builder
    takes the first that passes its check) does not pay for the rest. Same order, same rng
    use up to the point where the caller stops."""
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
    error type) first (a skipped step of the same tool counts as wrong params). No proposal
    equals the gold action or another proposal, none is the same step as the gold by
    `points.equivalent`, and wrong calls name tools the point offers. Each names its
    operator and relation (`difficulty.RELATIONS`); one with `needs_error` is a mistake only
    where an environment refuses it. The same point and an `rng` in the same state give the
    same list. Points carry what the operators read: `turn_calls` and `turn_observations`,
    `reply_kind`, `call_hint`, `missing_params`, `wrong_reply_intent`, `gold_calls`; without
    them the operators fall back to the history alone (the sources' `decision_points` and
    `select` fill them).
    """
    return list(iter_proposals(point, rng, prefer))


# values that must come from somewhere the reader can see: a file, a path, an id, an address
# (a date can be worked out from the conversation's date, a word or a sentence written from
# the request)
_LOOKED_UP = ("str:file", "str:path", "str:id", "str:email")
# a code a lookup returns: an airport ('RMS'), a ticker ('TSLA')
_CODE = re.compile(r"[A-Z][A-Z0-9]{1,9}")


def unseen_codes(call: dict[str, Any], asked: Iterable[str], history: HistoryText) -> list[str]:
    """The codes among a pending call's values (other than the parameters the user is asked
    for, `asked`, and credentials) that `history` does not show: what a lookup returned that
    the recorded calls never made (BFCL's `get_flight_cost(travel_from='RMS', ...)` for "the
    nearest airport to Rivermist" with no get_nearest_airport_by_city call)."""
    params = call.get("parameters") if isinstance(call, dict) else None
    if not isinstance(params, dict):
        return []
    skip = set(asked) | set(AUTH_PARAMS)
    values = [v for k, v in params.items() if k not in skip]
    leaves = [x for v in values for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)]
    return [x for x in leaves if _CODE.fullmatch(x) and not _shown(x, history)]


def user_values(text: str) -> list[Any]:
    """The values a user's message names (quoted strings, entities, capitalised names), in order."""
    return unique(m.value for m in _mentions([{"role": "user", "content": text}]))


def grounded_gold(point: DecisionPoint) -> bool:
    """GROUNDED_GOLD: whether a call point's right call shows only values a reader can see:
    every file, path, id and address among its arguments (credentials aside) is in the
    history. Chat points, and points of a source without the rule, always are."""
    if point.is_chat or GROUNDED_GOLD not in point.rules:
        return True
    history = history_text(point.history)
    values = [v for k, v in (point.gold.get("parameters") or {}).items() if k not in AUTH_PARAMS]
    leaves = [x for v in values for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)]
    return all(_shown(x, history) for x in leaves if kind(x) in _LOOKED_UP)
