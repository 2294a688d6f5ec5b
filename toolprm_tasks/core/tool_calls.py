"""Reading a candidate action as a tool call, safely, and checking it against tool specs.

Actions come as JSON objects (`{"name", "parameters"|"arguments"}`, OpenAI-style
`{"function": {...}}`), JSON text, or Python call strings as BFCL writes them
(`cd(folder='document')`). Call strings are parsed with `ast` and only literal arguments
are accepted: nothing from data or a model is ever evaluated. Call arguments are JSON values
only (every reader renders them as JSON): a Python literal JSON cannot hold (a set, bytes, a
complex number, `...`, a non-string key, a non-finite number, an integer too long to print)
makes the call unreadable (`UNREADABLE_ARGUMENTS`), never a call with that value.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scorers.answers import MAX_JSON_DEPTH, deeper_than, loads

MAX_CALL_CHARS = 100_000  # longer "calls" (degenerate generations) are not calls
MAX_NAME_PARTS = 8  # `a.b.c(...)`: deeper attribute chains are not tool names
# The argument key of a call whose arguments are not JSON values (its value says why). Like the
# other `<...>` keys (`<unparsed arguments>`, `<positional i>`), it marks arguments that could
# not be read as named JSON values: a policy answer with one is no action.
UNREADABLE_ARGUMENTS = "<arguments not JSON>"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


def _call_from_object(obj: Any) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str):
        return None
    if "parameters" in obj and "arguments" in obj \
            and _decoded(obj["parameters"]) != _decoded(obj["arguments"]):
        # two argument sets in one call: which the writer meant is a guess
        return ToolCall(name, {UNREADABLE_ARGUMENTS: "both 'parameters' and 'arguments', differing"})
    args = obj.get("parameters", obj.get("arguments", {}))
    if isinstance(args, str):
        decoded = _decoded(args)
        if decoded is None:
            return ToolCall(name, {"<unparsed arguments>": args})
        args = decoded
    return ToolCall(name, args if isinstance(args, dict) else {"<arguments>": args})


def _decoded(args: Any) -> Any:
    """Arguments as a value: a JSON string (OpenAI's `arguments`) decoded, "" as no arguments;
    None for a string that is not JSON."""
    if isinstance(args, str):
        return loads(args) if args.strip() else {}
    return args


def readable_arguments(arguments: Any) -> bool:
    """Whether a call's arguments are a JSON object of named values: `_call_from_object` and
    `_call_from_python` mark what they could not read with "<...>" keys (UNREADABLE_ARGUMENTS,
    positional arguments, text that is not JSON)."""
    return isinstance(arguments, dict) and not any(str(k).startswith("<") for k in arguments)


@dataclass(frozen=True)
class PythonCall:
    """A call string parsed without evaluating it: `name(*args, **kwargs)`, literals only."""

    name: str  # dotted when written as an attribute call (`a.b(...)`)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    problem: str = ""  # why it is no readable call although written as one (a keyword twice)


def parse_python_call(text: str) -> PythonCall | None:
    """Parse `f(1, x='a')` with `ast`; None unless it is one plain call whose arguments are
    JSON literals (no nested calls, names, `**` unpacking, expressions other than literals, or
    literals JSON cannot hold: see `not_json`)."""
    call = _literal_call(text)
    if call is None or call.problem or not_json([call.args, call.kwargs]) is not None:
        return None
    return call


def _literal_call(text: str) -> PythonCall | None:
    """`parse_python_call` before the JSON check: any Python literals as arguments."""
    if len(text) > MAX_CALL_CHARS:
        return None  # no tool call of any benchmark is this long; parsing it would only cost memory
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None  # the parser gives up on deep nesting with MemoryError or RecursionError
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
        if len(parts) > MAX_NAME_PARTS:
            return None
    if not isinstance(func, ast.Name):
        return None
    parts.append(func.id)
    try:
        args = tuple(ast.literal_eval(arg) for arg in node.args)
        kwargs: dict[str, Any] = {}
        repeated: str | None = None
        for keyword in node.keywords:
            if keyword.arg is None:
                return None
            if keyword.arg in kwargs:  # Python refuses `f(a=1, a=2)`; ast.parse lets it through
                repeated = keyword.arg
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # not a plain call with literal arguments
    if deeper_than([list(args), kwargs], MAX_JSON_DEPTH):
        return None  # as for JSON calls: arguments nested this deep are no tool call
    return PythonCall(".".join(reversed(parts)), args, kwargs,
                      f"the keyword {repeated!r} given twice" if repeated is not None else "")


def not_json(value: Any) -> str | None:
    """None when `value` is a JSON value (str, int, finite float, bool, None; lists and tuples,
    and dicts with string keys, of JSON values), else what in it is not, e.g. "a set". An
    explicit stack: no recursion (callers bound the depth first)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (str, bool)):
            continue
        if isinstance(item, int):
            try:
                str(item)  # what json.dumps does; Python refuses past 4,300 digits
            except ValueError:
                return "an integer too long to print"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"a non-finite number ({item})"
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return "an object key that is not a string"
            stack.extend(item.values())
        else:
            return {set: "a set", frozenset: "a set", bytes: "bytes", complex: "a complex number",
                    type(Ellipsis): "Ellipsis (...)"}.get(type(item), f"a {type(item).__name__}")
    return None


def _call_from_python(text: str) -> ToolCall | None:
    call = _literal_call(text)
    if call is None:
        return None
    if call.problem:  # written as a call, but which argument values were meant is a guess
        return ToolCall(call.name, {UNREADABLE_ARGUMENTS: call.problem})
    problem = not_json([call.args, call.kwargs])
    if problem is not None:  # written as a call, but its arguments cannot be read as JSON values
        return ToolCall(call.name, {UNREADABLE_ARGUMENTS: f"an argument holds {problem}, which JSON cannot"})
    arguments = {f"<positional {i}>": value for i, value in enumerate(call.args)}
    arguments.update(call.kwargs)
    return ToolCall(call.name, arguments)


def as_tool_calls(action: Any) -> list[ToolCall] | None:
    """The tool calls an action makes, or None for a chat reply."""
    if isinstance(action, list):
        calls = [_call_from_object(item) for item in action]
        return calls if calls and all(c is not None for c in calls) else None  # type: ignore[return-value]
    if isinstance(action, dict):
        call = _call_from_object(action)
        return [call] if call else None
    if isinstance(action, str):
        text = action.strip()
        if text.startswith(("{", "[")):
            decoded = loads(text)
            if decoded is not None:
                return as_tool_calls(decoded)
        if text.startswith("[") and text.endswith("]"):
            inner = [_call_from_python(part) for part in _split_top_level(text[1:-1])]
            if inner and all(c is not None for c in inner):
                return inner  # type: ignore[return-value]
        call = _call_from_python(text)
        return [call] if call else None
    return None


def _unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) of each character outside quotes from
    `start`, the depth counted from there (a closing bracket without an opening one is -1)."""
    depth, quote = 0, ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
            continue
        if char in "\"'":
            quote = char
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        yield index, char, depth


def closing_bracket_end(text: str, start: int) -> int | None:
    """Where the bracket opened just before `start` closes (the index after it), quotes
    skipped; None when it never closes."""
    return next((index + 1 for index, _, depth in _unquoted(text, start) if depth < 0), None)


def _split_top_level(text: str) -> list[str]:
    """Split `f(a=1), g(b=[1, 2])` at commas outside brackets and quotes."""
    cuts = [index for index, char, depth in _unquoted(text) if char == "," and depth == 0]
    parts = [text[begin + 1:end] for begin, end in zip([-1, *cuts[:-1]], cuts, strict=True)]
    last = text[cuts[-1] + 1:] if cuts else text
    return parts + [last] if last.strip() else parts


# ----------------------------------------------------------------------------- specs


def tool_specs(functions: Any) -> dict[str, dict[str, Any]] | None:
    """Tool name -> JSON-schema-like parameter spec, or None when the case has no usable specs."""
    if isinstance(functions, str):
        functions = loads(functions)
        if functions is None:
            return None
    if isinstance(functions, dict):
        if "name" in functions or "function" in functions:
            functions = [functions]
        else:  # {name: spec}
            functions = [{"name": k, **v} for k, v in functions.items() if isinstance(v, dict)]
    if not isinstance(functions, list):
        return None
    specs: dict[str, dict[str, Any]] = {}
    for item in functions:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            params = item.get("parameters") or {}
            specs[item["name"]] = params if isinstance(params, dict) else {}
    return specs or None


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "str": (str,),
    "integer": (int,), "int": (int,),
    "number": (int, float), "float": (int, float),
    "boolean": (bool,), "bool": (bool,),
    "array": (list, tuple), "list": (list, tuple), "tuple": (list, tuple),
    "object": (dict,), "dict": (dict,),
}


def _type_ok(value: Any, declared: Any) -> bool:
    names = declared if isinstance(declared, list) else [declared]
    known = [_TYPES[n] for n in names if isinstance(n, str) and n in _TYPES]
    if not known:
        return True  # "any", missing or unfamiliar types are not held against a call
    for types in known:
        if isinstance(value, bool) and bool not in types:
            continue
        if isinstance(value, types):
            return True
    return False


def spec_properties(params: Any) -> dict[str, Any]:
    """A parameter spec's `properties` (name -> schema); {} where absent or not an object (the
    data's, read as it is: a list there crashed every judge that reads specs)."""
    properties = params.get("properties") if isinstance(params, dict) else None
    return properties if isinstance(properties, dict) else {}


def spec_required(params: Any) -> list[str]:
    """A parameter spec's `required` names; the strings of a list only (a bare string is no
    list of names: iterated, "folder" required six one-letter parameters)."""
    required = params.get("required") if isinstance(params, dict) else None
    return [name for name in required if isinstance(name, str)] if isinstance(required, list) else []


def violations(action: Any, functions: Any) -> int:
    """Schema violations of an action: unknown tool, missing required or unknown parameters,
    wrong types, values outside an enum. A chat reply, or a case without specs, has none."""
    calls = as_tool_calls(action)
    specs = tool_specs(functions)
    if calls is None or specs is None:
        return 0
    count = 0
    for call in calls:
        spec = specs.get(call.name) or specs.get(call.name.rsplit(".", 1)[-1])
        if spec is None:
            count += 1
            continue
        properties, required = spec_properties(spec), spec_required(spec)
        count += sum(1 for name in required if name not in call.arguments)
        for name, value in call.arguments.items():
            prop = properties.get(name)
            if prop is None:
                count += 1
                continue
            if not isinstance(prop, dict):
                continue
            if "type" in prop and not _type_ok(value, prop["type"]):
                count += 1
            if isinstance(prop.get("enum"), list) and value not in prop["enum"]:
                count += 1
    return count
