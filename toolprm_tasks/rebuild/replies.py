"""Assistant replies written for their conversation: reports, questions, "no tool for that".

One writer serves both sides of a case, so that wording cannot give the label away: the
same intents and templates make the chosen reply of a point that needs a reply (the report
at the end of a turn, the question for a missing parameter, the statement that a tool is
not available) and the rejected reply of a point that needs a call (the same report before
the work is done, a needless question about a value the user gave, a false "no tool").
Every reply names the specific action at hand: the tool's own description turned into a
verb phrase, with the argument values the user mentioned. Each intent has statement and
question forms.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from typing import Any

REPORT, ASK, UNAVAILABLE = "report", "ask", "unavailable"
INTENTS: tuple[str, ...] = (REPORT, ASK, UNAVAILABLE)

# {action}: verb phrase with arguments; {param}: the parameter in words; {tool}: the tool's name
TEMPLATES: dict[str, tuple[str, ...]] = {
    REPORT: (
        "Done. I went ahead and did it: {action}.",
        "I've taken care of that for you: {action}.",
        "That's finished. I was able to {action}.",
        "OK, I managed to {action}. Is there anything else you'd like me to do?",
        "All set: I used {tool} to {action}.",
        "I was able to {action}. Want me to do anything else with it?",
        "Good news, it worked: I had {tool} {action}.",
        "Finished! The request went through ({action}). Anything else?",
    ),
    ASK: (
        "Which {param} should I use to {action}?",
        "Could you tell me the {param}? I need it to {action}.",
        "I still need the {param} before I can {action}.",
        "To {action}, I'll need you to give me the {param}.",
        "What {param} would you like? Then I can {action}.",
        "I'm missing the {param} for this. Please let me know it so I can {action}.",
        "Before I {action}, can you confirm the {param} you want?",
        "I can {action} once I know the {param}.",
    ),
    UNAVAILABLE: (
        "I'm sorry, but I can't {action}: none of my tools does that.",
        "None of the tools available to me can {action}.",
        "I don't have a way to {action} right now. Would you like me to try something else?",
        "Unfortunately {tool} isn't available to me, so I can't {action}.",
        "Is there another way you'd like me to handle this? I have no tool that can {action}.",
        "I can't {action} with the tools I have here.",
        "There's no tool here that lets me {action}, so I'll have to leave that one.",
        "Could we do this differently? I'm not able to {action} with what I have.",
    ),
}

_MAX_ARGS = 3
_MAX_VALUE = 48
_MAX_WORDS = 14
_DANGLING = frozenset({"a", "an", "the", "at", "of", "to", "in", "for", "with", "from", "by", "on", "and", "or", "as"})


def _base_form(word: str) -> str:
    """A description's third-person verb as an imperative ("Checks" -> "check")."""
    lower = word.lower()
    if lower.endswith("ies") and len(lower) > 4:
        return lower[:-3] + "y"
    if lower.endswith("es") and lower[:-2].endswith(("ss", "sh", "ch", "x", "z")):
        return lower[:-2]
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")) and len(lower) > 3:
        return lower[:-1]
    return lower


def description_of(functions: Any, name: str) -> str:
    """A tool's description in a list of function specs (OpenAI-style wrappers too)."""
    for item in functions if isinstance(functions, list) else []:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if isinstance(item, dict) and item.get("name") == name:
            return str(item.get("description") or "")
    return ""


def verb_phrase(description: str, name: str) -> str:
    """What the tool does, as a short imperative phrase from its own description."""
    if "Tool description:" in description:
        description = description.split("Tool description:", 1)[1]
    sentence = re.split(r"(?<=[a-z0-9)])\.\s|\.$|\n", description.strip(), maxsplit=1)[0].strip().rstrip(".")
    clause = re.split(r"[,;:(]| - | that | which | so that ", sentence, maxsplit=1)[0].strip()
    words = clause.split()
    if not words:  # no description: the tool's own name in words
        return "use " + re.sub(r"(?<!^)(?=[A-Z])|_", " ", name).lower()
    words = [_base_form(words[0]), *words[1:_MAX_WORDS]]
    while len(words) > 1 and words[-1].lower() in _DANGLING:
        words.pop()
    return " ".join(words)


def param_words(name: str) -> str:
    """A parameter name in words: `file_name` -> "file name", `receiverId` -> "receiver id"."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z0-9])|_", " ", name).lower().split()
    expand = {"dir": "directory", "num": "number", "id": "ID", "src": "source", "dest": "destination"}
    return " ".join(expand.get(w, w) for w in words) or name


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE].rstrip() + "..."
        return f"'{text}'"
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value[:4])
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _atoms(value: Any) -> list[str]:
    if isinstance(value, list):
        return [a for v in value for a in _atoms(v)]
    if isinstance(value, (dict, bool)) or value is None:
        return []
    return [str(value).lstrip("@#").casefold()]


def mentioned(value: Any, text: str) -> bool:
    """Whether the (case-folded) text names the value as a whole word (every element, for a
    list): "w" is not in "word", "20" is in "the last 20 lines"."""
    atoms = _atoms(value)
    return bool(atoms) and all(a and re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text) for a in atoms)


def user_text(history: list[dict[str, Any]]) -> str:
    """Everything the user said so far, case-folded: what an assistant may quote back."""
    return " ".join(t["content"] for t in history if t.get("role") == "user" and isinstance(t.get("content"), str)).casefold()


def describe(call: dict[str, Any], functions: Any, said: str, omit: str | None = None) -> str:
    """The action of a call in words, with the argument values the user has mentioned."""
    args = [f"{param_words(k)} {_value_text(v)}" for k, v in (call.get("parameters") or {}).items()
            if k != omit and mentioned(v, said)][:_MAX_ARGS]
    phrase = verb_phrase(description_of(functions, call["name"]), call["name"])
    return f"{phrase} ({', '.join(args)})" if args else phrase


def conversation_text(history: list[dict[str, Any]]) -> str:
    """Everything the conversation holds so far (user turns, calls, observations, replies),
    case-folded: what the assistant already knows."""
    return " ".join(t["content"] if isinstance(t.get("content"), str) else json.dumps(t.get("content"))
                    for t in history).casefold()


def askable(calls: Iterable[dict[str, Any]], known: str,
            skip: frozenset[str] = frozenset()) -> list[tuple[dict[str, Any], str]]:
    """(call, parameter) pairs whose value the conversation already holds (`known`): asking
    for it is a needless question."""
    return [(call, name) for call in calls for name, value in (call.get("parameters") or {}).items()
            if name not in skip and isinstance(value, (str, int, float, list)) and not isinstance(value, bool)
            and mentioned(value, known)]


def write(intent: str, call: dict[str, Any], functions: Any, history: list[dict[str, Any]], rng: random.Random,
          param: str | None = None, template: int | None = None) -> str:
    """One reply of an intent about one call; `param` is the parameter an ASK reply asks for
    (left out of the action's description). The template is drawn from `rng` unless given."""
    forms = TEMPLATES[intent]
    index = rng.randrange(len(forms)) if template is None else template % len(forms)
    action = describe(call, functions, user_text(history), omit=param if intent == ASK else None)
    if intent == ASK and param is None:
        forms, index = ("Could you give me the details I still need to {action}?",
                        "I need a little more detail from you before I can {action}."), index % 2
    text = forms[index].format(action=action, param=param_words(param or ""), tool=call["name"])
    return text[0].upper() + text[1:]
