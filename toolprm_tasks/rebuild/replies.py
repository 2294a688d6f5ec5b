"""Assistant replies written for their conversation: reports, questions, "no tool for that".

One writer serves both sides of a case, so that wording cannot give the label away: the
same intents and templates make the chosen reply of a point that needs a reply (the report
of the turn's results, the question for the parameters the user has not given, the
statement that a tool is not available) and the rejected reply of a point that needs a call
(the results so far reported as the answer before the last needed call, a question about a
value a tool would look up, a false "no tool"). A report cites the real results of the
turn's calls (`report`); a question names the action and exactly the parameters it asks
for; a refusal names the action: the tool's own description turned into a verb phrase, with
the argument values the user mentioned. Each intent has statement and question forms.
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
        "Done: {action}.",
        "I went ahead: {action}.",
        "That's done ({action}).",
        "OK, {action}. Anything else?",
        "All set: {action}, with {tool}.",
        "It's done: {action}.",
        "Done with {tool}: {action}.",
        "So that's it: {action}.",
    ),
    ASK: (  # the parameter and what it is for (build 9: "Which city should it be?" read as vague)
        "Which {param} should I use to {action}?",
        "What is the {param}? I need it to {action}.",
        "To {action}, what {param} should I use?",
        "I can {action} once I know the {param}. What is it?",
        "Which {param} is it? Then I can {action}.",
        "What should the {param} be, to {action}?",
        "Before I {action}: which {param}, please?",
        "To {action} I need the {param}. What is it?",
    ),
    UNAVAILABLE: (
        "I can't {action}: no tool here does that.",
        "None of my tools can {action}.",
        "There is no tool here to {action}.",
        "I have no way to {action} with these tools.",
        "No tool I have can {action}.",
        "I'm not able to {action} with the tools here.",
        "Sorry, I can't {action} here.",
        "I can't {action}: none of these tools does it.",
    ),
}

# a report of results: {results} are the observations in words, {tool} the last call's tool
REPORT_FORMS: tuple[str, ...] = (
    "{Results}.",
    "Done: {results}.",
    "Here's what I got: {results}.",
    "OK, {results}.",
    "All done: {results}.",
    "So, {results}.",
    "I got this: {results}.",
    "Here it is: {results}.",
)
_MAX_FIELDS = 4  # fields of one observation a report cites
_MAX_REPORTED = 4  # calls of the turn a report covers (the last ones)
_MAX_ITEMS = 5  # items of a list a report cites
_MAX_SNIPPET = 90
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
    # a trailing participle or "given a ..." names inputs and outputs, not the action ("Logs in a
    # user returns a token", "Deletes an alarm given an alarm_id"): read as broken English
    # ("the returns of a portfolio" is a noun: kept)
    clause = re.split(r"(?<=\w)(?<!\bthe)(?<!\bits) (?:returns|returning|given an?) ", clause, maxsplit=1)[0].strip()
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


def _value_text(value: Any, every_member: bool = False) -> str:
    """A value in words: strings quoted (long ones cut), lists joined (their first four, or with
    `every_member` all: a report leaves none out)."""
    if isinstance(value, str):
        text = value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE].rstrip() + "..."
        return f"'{text}'"
    if isinstance(value, list):
        return ", ".join(_value_text(v, every_member) for v in (value if every_member else value[:4]))
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


# credentials a login hands out: never a wrong argument (`operators.AUTH_PARAMS`)
CREDENTIALS = frozenset({"session_token", "access_token"})
# what a report of an acting call never cites back: those, and the secrets the user typed
SECRETS = CREDENTIALS | frozenset({"password", "old_password", "new_password", "verification_code"})


def call_values(call: dict[str, Any]) -> str:
    """A call's first few argument values in words ("name 'Sync', start time '2023-09-18
    10:00:00'"), secrets and empty values left out. The call is in the history, so each is a
    value the conversation shows."""
    return ", ".join([f"{param_words(k)} {_value_text(v, every_member=True)}"
                      for k, v in (call.get("parameters") or {}).items()
                      if k not in SECRETS and v is not None][:_MAX_ARGS])


def describe(call: dict[str, Any], functions: Any, said: str, omit: str | None = None) -> str:
    """The action of a call in words, with the argument values the user has mentioned."""
    args = [f"{param_words(k)} {_value_text(v)}" for k, v in (call.get("parameters") or {}).items()
            if k != omit and mentioned(v, said)][:_MAX_ARGS]
    phrase = verb_phrase(description_of(functions, call["name"]), call["name"])
    return f"{phrase} ({', '.join(args)})" if args else phrase


_MAX_PHRASE_WORDS = 8


def param_phrase(functions: Any, tool: str, param: str) -> str:
    """A parameter as a question names it: its name in words ("receiver ID"), or where the name
    is cryptic (a one- or two-letter word, a trailing preposition: `cityA`, `travel_from`) its
    description's first clause where that is short ("zipcode of the first city"), else the
    name in words anyway."""
    words = param_words(param).split()
    if words and all(len(w) > 2 or w == "ID" for w in words) and words[-1] not in _DANGLING | {"into"}:
        return " ".join(words)
    for item in functions if isinstance(functions, list) else []:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if not (isinstance(item, dict) and item.get("name") == tool):
            continue
        props = (item.get("parameters") or {}).get("properties") or {}
        text = str((props.get(param) or {}).get("description") or "") if isinstance(props, dict) else ""
        text = re.sub(r"^\W*(optional|required)\b\W*", "", text.strip(), flags=re.IGNORECASE)
        clause = re.split(r"[.;:(\[]|, ", text, maxsplit=1)[0].strip()
        words = clause.split()
        if len(words) >= 2 and len(words) <= _MAX_PHRASE_WORDS:
            phrase = " ".join(words)
            if not phrase[1:2].isupper():  # "ID of the order" keeps its capitals
                phrase = phrase[0].lower() + phrase[1:]
            return re.sub(r"^(the|a|an) ", "", phrase)
    return param_words(param)


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


def _snippet(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    return text if len(text) <= _MAX_SNIPPET else text[:_MAX_SNIPPET].rstrip() + "..."


def _plain(value: Any, depth: int = 0, every_field: bool = False) -> str | None:
    """A result value in words (None: nothing worth citing, such as an empty record); a record's
    first fields, or with `every_field` all of them."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return _snippet(value) if value.strip() else None
    if isinstance(value, list):
        items = [t for t in (_plain(v, depth + 1, every_field) for v in value[:_MAX_ITEMS]) if t]
        if not items:
            return "none" if not value else None
        more = f" and {len(value) - _MAX_ITEMS} more" if len(value) > _MAX_ITEMS else ""
        return ", ".join(items) + more
    if isinstance(value, dict) and depth < 2:  # a record, or records in a list: their first fields
        parts = [f"{param_words(k)} {t}" for k, v in value.items() if not str(k).startswith("_")
                 for t in [_plain(v, 2)] if t]
        parts = parts if every_field else parts[:_MAX_FIELDS - 1]
        return ("(" + ", ".join(parts) + ")" if depth else ", ".join(parts)) if parts else None
    return None


def result_phrases(observation: str, every_field: bool = False, hidden: frozenset[str] = frozenset()) -> list[str]:
    """An observation's fields in words ("zipcode: 83214"); empty when it says nothing (no
    output, an empty record). Private fields (a leading underscore) and `hidden` ones are never
    cited. The first few fields, or with `every_field` all of them."""
    try:
        data = json.loads(observation)
    except (json.JSONDecodeError, TypeError):
        data = observation
    if isinstance(data, dict):
        phrases = [f"{param_words(str(k))}: {t}" for k, v in data.items()
                   if not str(k).startswith("_") and str(k) not in hidden
                   for t in [_plain(v, 0, every_field)] if t]
        return phrases if every_field else phrases[:_MAX_FIELDS]
    if isinstance(data, list):
        text = _plain(data, 0, every_field)
        return [text] if text else []
    text = str(data).strip() if data is not None else ""
    return [_snippet(text)] if text and text not in ("None", "null", "{}", "[]") else []


def report(done: list[tuple[dict[str, Any], str]], functions: Any, history: list[dict[str, Any]],
           rng: random.Random, every_call: bool = False, lookups: frozenset[str] | None = None) -> str:
    """A reply reporting the results of `done` (the turn's calls so far, with observations):
    every call's result in words (the last few calls), or the action itself where a call
    returns nothing. The same writer makes the report that ends a turn and the answer given
    too early. `every_call`: every call of the turn and every field of its result, not the last
    few calls and first few fields (a source's FULL_REPORT). `lookups`: where given, the tools
    that only look things up (a source's ACTS_REPORTED); any other call is reported as what it
    did, with the values it was given (secrets left out: `SECRETS`), before its result
    (seven bare event ids read as no answer to "set up the weekly meetings")."""
    said = user_text(history)
    parts: list[str] = []
    for call, observation in (done if every_call else done[-_MAX_REPORTED:]):
        acting = lookups is not None and call["name"] not in lookups
        phrases = [p for p in result_phrases(observation, every_call, SECRETS if acting else frozenset())
                   if p not in parts]
        if acting:
            # the call in its own terms (its name and values, as the history shows them): a
            # description's words would be words of the template, not of the conversation
            args = call_values(call)
            part = f"{call['name']}" + (f" ({args})" if args else "") + ": " + (", ".join(phrases) or "done")
            if part not in parts:  # two identical calls with identical results: said once
                parts.append(part)
        elif phrases:
            parts += phrases
        else:
            parts.append(f"I used {call['name']} to " + describe(call, functions, said))
    results = "; ".join(parts) if parts else "that is done"
    form = REPORT_FORMS[rng.randrange(len(REPORT_FORMS))]
    text = form.format(results=results, Results=results[0].upper() + results[1:])
    return text[0].upper() + text[1:]


def ask(call: dict[str, Any], params: list[str], functions: Any, history: list[dict[str, Any]],
        rng: random.Random) -> str:
    """A question for exactly `params` of `call` (the action named with the values the user
    gave, the asked ones left out)."""
    words = [param_phrase(functions, call["name"], p) for p in params]
    asked = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    forms = TEMPLATES[ASK]
    action = describe({"name": call["name"], "parameters": {k: v for k, v in call["parameters"].items()
                                                            if k not in params}}, functions, user_text(history))
    text = forms[rng.randrange(len(forms))].format(action=action, param=asked, tool=call["name"])
    return text[0].upper() + text[1:]
