"""The `grounding` reference judge: how much of a candidate the history already holds.

A weight-free, history-aware surface judge (no learning, nothing fitted to any data): a
candidate's score is the share of its units that the history contains.

- Units of a tool call: every leaf value of its arguments (strings and numbers; list and
  object members each count; booleans and null are not values a history names), and the
  content words of the tool's name (`get_zipcode_based_on_city`: get, zipcode, based, city).
  A candidate that holds several calls has the units of all of them.
- Units of a reply: its content words and its numbers.
- A content word is a run of letters, case-folded, at least 3 long, not in `STOPWORDS`.
- The history text H: every turn's content (strings as they are, calls and other objects as
  JSON), case-folded. A string value is found when H contains it as a whole (not inside a
  longer word); a number when H has a number token of the same value (2 and 2.0 are equal);
  a word when it is one of H's words.

score = found units / units, over distinct units; 0 for a candidate with no units. The judge
prefers the candidate with the higher score (a tie is a tie). It shows how far string
matching against the history goes: a set whose wrong actions use values foreign to the
conversation is solved by it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.core.tool_calls import as_tool_calls

MIN_WORD = 3
_LETTERS = re.compile(r"[^\W\d_]+")
# a minus sign counts only where it cannot be a hyphen ("2026-11-15" holds 2026, 11 and 15)
_NUMBER = re.compile(r"(?:(?<![\w.])-)?\d+(?:\.\d+)?")
# English function words (and a few universal chat words): never evidence of grounding
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing done down during each few for from further get got had
has have having he her here hers him his how i if in into is it its itself just let me more most my no
nor not now of off on once only or other our ours out over own please same she should so some such than
that the their theirs them then there these they this those through to too under until up very was we
were what when where which while who whom why will with would yes you your yours
""".split())


def content_words(text: str) -> list[str]:
    """The content words of a text, in order (repeats kept)."""
    return [w for w in _LETTERS.findall(text.casefold()) if len(w) >= MIN_WORD and w not in STOPWORDS]


def _numbers(text: str) -> list[float]:
    out = []
    for token in _NUMBER.findall(text):
        value = float(token)
        if math.isfinite(value):
            out.append(value)
    return out


def name_words(name: str) -> list[str]:
    """A tool name's content words: split at underscores, dots and case changes."""
    return content_words(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name))


@dataclass(frozen=True)
class HistoryText:
    """What the history holds, read once: its text, words and numbers."""

    text: str
    words: frozenset[str]
    numbers: frozenset[float]

    @classmethod
    def of(cls, history: Any) -> HistoryText:
        turns = history if isinstance(history, list) else [history]
        parts = []
        for turn in turns:
            content = turn.get("content") if isinstance(turn, dict) else turn
            parts.append(content if isinstance(content, str)
                         else json.dumps(content, ensure_ascii=False, default=str))
        text = "\n".join(parts).casefold()
        return cls(text, frozenset(_LETTERS.findall(text)), frozenset(_numbers(text)))

    def has_value(self, value: Any) -> bool:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) in self.numbers
        needle = str(value).strip().casefold()
        if not needle:
            return False
        return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", self.text) is not None


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(float(value)):
            yield value


def units(action: Any) -> list[tuple[str, Any]]:
    """A candidate's distinct units, in order: ("value", v), ("word", w), ("number", n)."""
    calls = None
    try:
        calls = as_tool_calls(action)
    except (ValueError, TypeError, RecursionError, MemoryError):
        calls = None  # not readable as a call: judged as text
    found: list[tuple[str, Any]] = []
    if calls:
        for call in calls:
            found += [("value", v) for v in _leaves(call.arguments)]
            found += [("word", w) for w in name_words(call.name)]
    else:
        text = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False, default=str)
        found += [("word", w) for w in content_words(text)] + [("number", n) for n in _numbers(text)]
    distinct, seen = [], set()
    for kind, value in found:
        key = (kind, value.casefold().strip() if isinstance(value, str) else float(value))
        if key not in seen:
            seen.add(key)
            distinct.append((kind, value))
    return distinct


def found(unit: tuple[str, Any], history: HistoryText) -> bool:
    kind, value = unit
    if kind == "word":
        return value in history.words
    if kind == "number":
        return value in history.numbers
    return history.has_value(value)


def grounding_score(action: Any, history: Any) -> float:
    """The share of the candidate's distinct units found in the history (0 without units)."""
    text = history if isinstance(history, HistoryText) else HistoryText.of(history)
    items = units(action)
    if not items:
        return 0.0
    return sum(found(u, text) for u in items) / len(items)
