"""BFCL multi-turn conversations from the `bfcl-eval` package, replayed in its environments.

Install the source without its declared dependencies (they are heavy and conflicting; the
data and the eight environment classes need only the standard library and mpmath):

    pip install --no-deps bfcl-eval==2026.3.23 mpmath

BFCL's own runner evaluates call strings as Python code. Here every call is parsed with `ast`
(`tool_calls.parse_python_call`: one plain call, literal arguments only) and dispatched to a
public method of an environment instance by name; unknown names, private methods and
anything else are refused with an error observation, never evaluated.
"""

from __future__ import annotations

import contextlib
import copy
import decimal
import importlib
import importlib.util
import inspect
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.core.tool_calls import parse_python_call
from toolprm_tasks.rebuild.errors import SourceError

BFCL_VERSION = "2026.3.23"
CATEGORIES: tuple[str, ...] = ("base", "long_context", "miss_func", "miss_param")
_BACKEND = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
# The multi-turn suites' classes (memory_* and web_search need heavy packages: not supported).
ENVIRONMENT_CLASSES: dict[str, tuple[str, str]] = {
    "GorillaFileSystem": ("gorilla_file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}
STATELESS_CLASSES = frozenset({"MathAPI"})
ERROR_PREFIX = "Error during execution: "  # BFCL's own wording for a failed call



def data_dir() -> Path:
    """`bfcl_eval/data`, located without importing the package."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("bfcl-eval is not installed: pip install --no-deps "
                          f"bfcl-eval=={BFCL_VERSION} mpmath (its declared dependencies are not needed)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@dataclass(frozen=True)
class Conversation:
    """One BFCL multi-turn entry with its gold calls, as the source defines them."""

    id: str
    category: str
    turns: list[list[dict[str, Any]]]  # user messages per turn, as BFCL's harness sends them
    gold: list[list[str]]  # gold call strings per turn
    initial_config: dict[str, Any]
    involved_classes: list[str]
    excluded_function: list[str]
    missed_function: dict[str, list[str]] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The project's one JSON Lines reader (`jsonio`), its errors raised as SourceError."""
    from toolprm_tasks.data.jsonio import JSONFileError, read_jsonl

    try:
        return read_jsonl(path, name=path.name)
    except JSONFileError as exc:
        raise SourceError(str(exc)) from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None


# BFCL's own text for the turn where withheld tools come back (bfcl_eval.constants.default_prompts,
# DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC): without it such a turn has no user message, and
# a history shows the assistant refusing and then, unprompted, making the call it refused.
ADDED_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"


def _turns_as_sent(turns: list[Any], missed_function: dict[str, list[str]], source: str,
                   index: int) -> list[list[dict[str, Any]]]:
    """The user messages per turn as BFCL's inference loop sends them: a turn where withheld
    functions come back must be empty in the file, and gets BFCL's prompt announcing them."""
    sent = [list(messages) for messages in turns]
    for start in missed_function:
        turn = int(start) if str(start).isdigit() else -1
        if not 0 <= turn < len(sent):
            raise SourceError(f"{source}: record {index}: field 'missed_function': turn {start!r} "
                              f"is not one of the {len(sent)} turns")
        if sent[turn]:
            raise SourceError(f"{source}: record {index}: field 'question': turn {turn}, where "
                              "missed functions come back, has a user message (BFCL leaves it empty)")
        sent[turn] = [{"role": "user", "content": ADDED_FUNCTIONS_PROMPT}]
    return sent


def _require(row: dict[str, Any], key: str, kind: type, source: str, index: int) -> Any:
    if not isinstance(row.get(key), kind):
        raise SourceError(f"{source}: record {index}: field '{key}': expected {kind.__name__}, "
                          f"got {type(row.get(key)).__name__}")
    return row[key]


def load_conversations(categories: tuple[str, ...] = CATEGORIES, root: Path | None = None,
                       limit: int | None = None) -> list[Conversation]:
    """The multi-turn conversations of the given categories in file order (the first `limit`
    only: later category files are not read), each paired with its gold calls."""
    root = root or data_dir()
    conversations: list[Conversation] = []
    for category in categories:
        if limit is not None and len(conversations) >= limit:
            break
        name = f"BFCL_v4_multi_turn_{category}.json"
        questions = _read_jsonl(root / name)
        answers = {row.get("id"): row for row in _read_jsonl(root / "possible_answer" / name)}
        for index, row in enumerate(questions):
            entry_id = _require(row, "id", str, name, index)
            if entry_id not in answers:
                raise SourceError(f"{name}: record {index}: no possible answer for id {entry_id!r}")
            gold = _require(answers[entry_id], "ground_truth", list, f"possible_answer/{name}", index)
            turns = _require(row, "question", list, name, index)
            if len(gold) != len(turns):
                raise SourceError(f"{name}: record {index}: {len(turns)} turns but {len(gold)} gold turns")
            missed = row.get("missed_function") or {}
            if not isinstance(missed, dict):
                raise SourceError(f"{name}: record {index}: field 'missed_function': expected dict, "
                                  f"got {type(missed).__name__}")
            turns = _turns_as_sent(turns, missed, name, index)
            classes = _require(row, "involved_classes", list, name, index)
            unknown = [c for c in classes if c not in ENVIRONMENT_CLASSES]
            if unknown:
                raise SourceError(f"{name}: record {index}: field 'involved_classes': unsupported {unknown}")
            conversations.append(Conversation(
                id=entry_id, category=category, turns=turns, gold=gold,
                initial_config=_require(row, "initial_config", dict, name, index),
                involved_classes=classes, excluded_function=row.get("excluded_function") or [],
                missed_function=missed, path=row.get("path") or [],
            ))
            if limit is not None and len(conversations) >= limit:
                break
    return conversations


def function_docs(classes: list[str], root: Path | None = None) -> list[dict[str, Any]]:
    """The tool specs of the given classes, as the source ships them."""
    root = root or data_dir()
    docs = []
    for class_name in classes:
        path = root / "multi_turn_func_doc" / ENVIRONMENT_CLASSES[class_name][1]
        docs.extend(_read_jsonl(path))
    return docs


# Nodes one state snapshot may visit. The largest initial state of BFCL's 800 conversations has
# under 400; GorillaFileSystem's `cp`/`mv` share directory objects, so a few dozen hostile calls
# make a state whose snapshot (shared directories written out at each place) doubles with every
# five calls: past this budget the state is no state we compare, never minutes of work.
MAX_STATE_NODES = 200_000


# Levels one snapshot may descend. BFCL's initial states nest under 20; a policy that repeats
# `mkdir d; cd d` nests a directory per two calls, and a snapshot (or a copy) of a few hundred
# levels exceeds Python's stack: past this depth it is no state we compare.
MAX_STATE_DEPTH = 120


class StateTooLarge(Exception):
    """A state whose snapshot would visit more than MAX_STATE_NODES nodes, or nest deeper than
    MAX_STATE_DEPTH."""


def to_plain(value: Any, _path: frozenset[int] = frozenset(), _budget: list[int] | None = None) -> Any:
    """A JSON-like snapshot of environment state: public attributes, recursively. A back
    reference (a directory's `parent`) becomes a marker instead of a cycle. Raises
    StateTooLarge past MAX_STATE_NODES nodes (`_budget`: the nodes left, shared by one snapshot)
    or MAX_STATE_DEPTH levels."""
    budget = [MAX_STATE_NODES] if _budget is None else _budget
    budget[0] -= 1
    if budget[0] < 0:
        raise StateTooLarge(f"the environment's state has more than {MAX_STATE_NODES} nodes")
    if len(_path) > MAX_STATE_DEPTH:
        raise StateTooLarge(f"the environment's state nests deeper than {MAX_STATE_DEPTH} levels")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if id(value) in _path:
        return {"__ref__": type(value).__name__}
    path = _path | {id(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v, path, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_plain(v, path, budget) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if hasattr(value, "__dict__"):
        return {"__class__": type(value).__name__,
                **{k: to_plain(v, path, budget) for k, v in vars(value).items() if not k.startswith("_")}}
    return repr(value)


MAX_MATH_INT = 1_000  # MathAPI's int parameters (precision, decimal places): larger ones run for minutes
MAX_RESULT_DIGITS = 4_300  # Python refuses to print a longer int: BFCL could not show such a result either


def _within_math_bound(value: Any) -> bool:
    """Whether an int parameter's value is harmless: BFCL hands it to mpmath, which takes
    whatever `int()` takes (a float such as JSON's `1e9`, a numeric string such as "2000000"),
    so each of those is bounded as the number it is; anything `int()` refuses fails in BFCL's
    own code at once."""
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return abs(value) <= MAX_MATH_INT  # NaN and inf are no number within it
    if isinstance(value, str):
        try:
            return abs(int(value)) <= MAX_MATH_INT
        except ValueError:  # not an int's text (or one past Python's digit limit): BFCL refuses it
            return True
    return True


def _bounded_arguments(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple, dict]:
    """Refuse MathAPI calls that would run for minutes on a proposed call: an int parameter
    (precision, decimal places) above MAX_MATH_INT, or an integer `power` whose result has more
    than MAX_RESULT_DIGITS digits (`power(base=10, exponent=10**9)` would never finish).
    Other classes' arguments pass unchanged."""
    if type(getattr(method, "__self__", None)).__name__ != "MathAPI":
        return args, kwargs
    signature = inspect.signature(method)
    bound = signature.bind(*args, **kwargs)  # TypeError: an error observation
    values = bound.arguments
    for name, value in values.items():
        if signature.parameters[name].annotation is int and not _within_math_bound(value):
            raise ValueError(f"{name}={value!r} is out of range (at most {MAX_MATH_INT} here)")
    base, exponent = values.get("base"), values.get("exponent")
    if method.__name__ == "power" and all(isinstance(v, int) and not isinstance(v, bool) for v in (base, exponent)):
        if exponent > 0 and abs(base) > 1 and exponent * math.log10(abs(base)) > MAX_RESULT_DIGITS:
            raise ValueError(f"the result would have more than {MAX_RESULT_DIGITS} digits")
    return bound.args, bound.kwargs


@contextlib.contextmanager
def _numeric_settings_kept() -> Iterator[None]:
    """BFCL's MathAPI sets `decimal`'s precision and `mpmath.mp.dps` for the whole process and
    leaves them set (`square_root(precision=1)` made every later Decimal division 1 digit): a
    call runs in its own decimal context, and mpmath's precision is put back after it."""
    mp = getattr(sys.modules.get("mpmath"), "mp", None)  # only where BFCL has imported it
    dps = getattr(mp, "dps", None)
    try:
        with decimal.localcontext():
            yield
    finally:
        if mp is not None and dps is not None:
            mp.dps = dps


def _result_text(result: Any) -> str:
    """A method's result as BFCL shows it; a result that cannot be shown (an int of more
    digits than Python converts) raises ValueError, which the caller makes an observation."""
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except TypeError:
            return str(result)
    return str(result)


def _exception_text(exc: Exception) -> str:
    try:
        return str(exc)[:2000]
    except Exception:  # noqa: BLE001 - an exception whose message itself cannot be rendered
        return type(exc).__name__


@dataclass(frozen=True)
class Observation:
    call: str
    ok: bool
    text: str


class Environment:
    """The conversation's environment instances, loaded from its initial configuration."""

    def __init__(self, involved_classes: list[str], initial_config: dict[str, Any], long_context: bool = False):
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        for class_name in involved_classes:
            if class_name not in ENVIRONMENT_CLASSES:
                raise SourceError(f"unsupported BFCL environment class {class_name!r}")
            module = importlib.import_module(f"{_BACKEND}.{ENVIRONMENT_CLASSES[class_name][0]}")
            instance = getattr(module, class_name)()
            if class_name not in STATELESS_CLASSES:
                # deep copy: the source data must never be modified by the environment
                instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
                # and the scenario must own its state: a long-context TravelAPI puts module-level
                # dicts (CREDIT_CARD_EXTENSION, ...) into the instance by reference, so one
                # conversation's booking would move every later one's card balance
                instance.__dict__.update(copy.deepcopy(instance.__dict__))
            self.instances[class_name] = instance
            for name in dir(type(instance)):
                if not name.startswith("_") and callable(getattr(instance, name)):
                    self.methods[name] = getattr(instance, name)

    def execute(self, call_text: str) -> Observation:
        """Run one call string; failures become BFCL-style error observations."""
        call = parse_python_call(call_text)
        if call is None:
            return Observation(call_text, False, f"{ERROR_PREFIX}not a plain call with literal arguments")
        return self.dispatch(call.name, call.args, call.kwargs, label=call_text)

    def keyword_call(self, call_text: str) -> dict[str, Any] | None:
        """A call string as the release's action object `{"name", "parameters"}`, positional
        arguments named by the method's signature; None if it is not a known plain call."""
        call = parse_python_call(call_text)
        if call is None or call.name not in self.methods:
            return None
        try:
            bound = inspect.signature(self.methods[call.name]).bind(*call.args, **call.kwargs)
        except TypeError:
            return None
        return {"name": call.name, "parameters": dict(bound.arguments)}

    def dispatch(self, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                 label: str | None = None) -> Observation:
        """Call a public environment method by name (the only way anything is executed).
        Never raises: every failure, the environment's own or ours, is an error observation."""
        label = label or name
        method = self.methods.get(name)
        if method is None:
            return Observation(label, False, f"{ERROR_PREFIX}unknown function {name!r}")
        try:
            with _numeric_settings_kept():
                args, kwargs = _bounded_arguments(method, args, copy.deepcopy(kwargs or {}))
                result = method(*args, **kwargs)
                text = _result_text(result)
        except Exception as exc:  # the environment's own errors are observations, as in BFCL
            return Observation(label, False, f"{ERROR_PREFIX}{_exception_text(exc)}")
        failed = isinstance(result, dict) and "error" in result
        return Observation(label, not failed, text)

    def state(self) -> dict[str, Any]:
        """A snapshot of every instance (`to_plain`); StateTooLarge past MAX_STATE_NODES nodes
        or MAX_STATE_DEPTH levels."""
        budget = [MAX_STATE_NODES]
        return {name: to_plain(instance, _budget=budget) for name, instance in self.instances.items()}

    def state_or_none(self) -> dict[str, Any] | None:
        """`state()`, or None where a model's calls made it too large to compare (StateTooLarge):
        callers count that as a state that matches nothing."""
        try:
            return self.state()
        except StateTooLarge:
            return None


@dataclass(frozen=True)
class Replay:
    conversation: Conversation
    observations: list[list[Observation]]  # per turn, per gold call
    end_state: dict[str, Any]


def replay_gold(conversation: Conversation) -> Replay:
    """Execute every gold step in order from the initial state, keeping the real observations."""
    env = Environment(conversation.involved_classes, conversation.initial_config,
                      long_context=conversation.category == "long_context")
    observations = [[env.execute(call) for call in turn] for turn in conversation.gold]
    return Replay(conversation, observations, env.state())
