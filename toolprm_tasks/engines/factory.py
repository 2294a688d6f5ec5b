"""One engine factory for both adapters: lm-eval `--model_args` and Inspect `-M` options.

    kind=classifier|step|label-token|verifier|pairwise   max_length=N
    step_tag=... good_token=... bad_token=... yes_token=... no_token=...   (PromptFormat)
    hf:   device=cuda|cpu (default: the GPU if there is one)  dtype=float32|bfloat16|float16  trust_remote_code=true
    vllm: tensor_parallel_size=N  dtype=...  gpu_memory_utilization=F  load_format=...
          enable_prefix_caching=false  enforce_eager=true (no torch.compile: starts in seconds, scores
          slower; default $TOOLPRMBENCH_VLLM_ENFORCE_EAGER)  server=true (start our own server)  base_url=URL (yours)
          api_key=KEY (your server's key; default: $VLLM_API_KEY; with base_url the engine arguments
          above and server=true are refused: your server has its own)
          served_model_name=NAME (the name your server knows the model by)

`check_options` is the one check of our models' options (the engines', and the baseline and
replay providers'): unknown options are refused with the list of known ones, so a typo never
runs silently with defaults, and every value is read by its option's rule (a whole number, a
number in range, a boolean, one of some choices, a non-empty text) or refused with an
`OptionError` that names the model, the option, the rule and the value. lm-eval hands values
over already typed (`max_length=5` as 5, `true` as True), Inspect as YAML reads them, Python
callers as they like: each rule accepts all three.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from toolprm_tasks.core.names import KINDS
from toolprm_tasks.engines.base import PromptFormat, ScoringEngine
from toolprm_tasks.engines.hf import HFEngine
from toolprm_tasks.engines.vllm_engine import VLLMEngine
from toolprm_tasks.engines.vllm_server import VLLMServerEngine

logger = logging.getLogger(__name__)


class OptionError(ValueError):
    """A model option that is unknown or whose value its rule refuses: names model and option."""


Rule = Callable[[Any], Any]  # the raw value -> the value, or ValueError saying what was expected

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_SECRETS = ("api_key", "base_url")  # never echoed in an error (a URL may hold a password)


def flag(value: Any) -> bool:
    """true/false (also 1/0, yes/no, on/off, any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"true or false ({'/'.join(_TRUE)} or {'/'.join(_FALSE)})")


def whole(minimum: int | None = None) -> Rule:
    """A whole number (>= minimum, when given)."""
    expected = "a whole number" + (f" >= {minimum}" if minimum is not None else "")

    def parse(value: Any) -> int:
        # a whole-valued float is that number: lm-eval's --model_args reads "-1" as -1.0 ("-1"
        # is not str.isnumeric), so seed=-1 was refused as "got -1.0"; 2.5 and inf are not
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2 ** 53:  # exact as a float
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(expected)
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(expected) from None
        if minimum is not None and number < minimum:
            raise ValueError(expected)
        return number

    return parse


def number(minimum: float) -> Rule:
    """A finite number >= minimum."""

    def parse(value: Any) -> float:
        try:
            result = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            result = math.nan
        if not math.isfinite(result) or result < minimum:
            raise ValueError(f"a number >= {minimum:g}")
        return result

    return parse


def fraction(value: Any) -> float:
    """A number in (0, 1]."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not 0.0 < number <= 1.0:  # NaN fails too
        raise ValueError("a number greater than 0 and at most 1")
    return number


def choice(*choices: str) -> Rule:
    """One of `choices`."""

    def parse(value: Any) -> str:
        if str(value) not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return str(value)

    return parse


def text(value: Any) -> str:
    """A non-empty text (a number is its text). Inspect reads `-M` values as YAML, where `Yes`,
    `No`, `on` or `off` is a boolean and a bare `-` a list: those are refused saying how to quote
    them, never turned into "True" or "[None]"."""
    if isinstance(value, (bool, list, dict)) or value is None:
        raise ValueError(f"a non-empty text; Inspect reads -M values as YAML, which made this {type(value).__name__}: "
                         "quote the text, e.g. -M 'yes_token=\"Yes\"' or -M 'bad_token=\"-\"'")
    if not str(value):
        raise ValueError("a non-empty text")
    return str(value)


def url(value: Any) -> str:
    """An http(s) URL."""
    if not str(value).startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return str(value)


def check_value(what: str, value: Any, rule: Rule) -> Any:
    """One value read by its rule, or an OptionError naming `what` (e.g. a task parameter)."""
    try:
        return rule(value)
    except ValueError as exc:
        raise OptionError(f"{what} must be {exc}, got {value!r}") from None


def check_options(model: str, options: Mapping[str, Any], rules: Mapping[str, Rule],
                  ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options read by their rules (None values left out: not given); `ignored` ones (a
    framework's own, passed to every model) are dropped. Raises OptionError."""
    unknown = sorted(k for k in options if k not in rules and k not in ignored)
    if unknown:
        raise OptionError(f"{model}: unknown option(s) {', '.join(unknown)}; known: {', '.join(rules)}")
    checked = {}
    for name, value in options.items():
        if name in ignored or value is None:
            continue
        try:
            checked[name] = rules[name](value)
        except ValueError as exc:
            shown = "a value that is not shown" if name in _SECRETS else repr(value)
            raise OptionError(f"{model}: option {name} must be {exc}, got {shown}") from None
    return checked


_FORMAT_KEYS = tuple(f.name for f in fields(PromptFormat))
_COMMON: dict[str, Rule] = {"kind": choice(*KINDS), "max_length": whole(1), **{k: text for k in _FORMAT_KEYS}}
ENGINE_OPTIONS: dict[str, dict[str, Rule]] = {
    "hf": {**_COMMON, "device": text, "dtype": choice("float32", "bfloat16", "float16"), "trust_remote_code": flag},
    "vllm": {**_COMMON, "tensor_parallel_size": whole(1),
             "dtype": choice("auto", "float32", "float", "bfloat16", "float16", "half"),
             "gpu_memory_utilization": fraction, "load_format": text, "enable_prefix_caching": flag,
             "enforce_eager": flag, "server": flag, "base_url": url, "api_key": text, "served_model_name": text},
}
KNOWN_OPTIONS = {backend: tuple(rules) for backend, rules in ENGINE_OPTIONS.items()}
# vLLM engine arguments: a server's own, so never with base_url (a server already running)
SERVER_SIDE_OPTIONS = ("tensor_parallel_size", "dtype", "gpu_memory_utilization", "load_format",
                       "enable_prefix_caching", "enforce_eager")
# passed by the frameworks themselves whatever the model (lm-eval: batch size, device)
FRAMEWORK_OPTIONS = ("batch_size", "max_batch_size", "device")
_LABEL_PAIRS = (("yes_token", "no_token"), ("good_token", "bad_token"))


def _hf_device(requested: Any) -> str:
    """lm-eval passes `cuda:0` when no `--device` is given; as its own `hf` model does, use the
    GPU when there is one and the CPU otherwise."""
    import torch

    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(requested)
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("toolprm-hf: %s requested but CUDA is not available; using the CPU", device)
        return "cpu"
    return device


def engine_options(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The backend's options, checked (`check_options`), with the label pairs told apart."""
    rules = ENGINE_OPTIONS[backend]
    ignored = tuple(k for k in FRAMEWORK_OPTIONS if k not in rules)
    checked = check_options(f"toolprm-{backend}", options, rules, ignored)
    fmt = PromptFormat(**{k: checked[k] for k in _FORMAT_KEYS if k in checked})
    for first, second in _LABEL_PAIRS:
        if getattr(fmt, first) == getattr(fmt, second):
            raise OptionError(f"toolprm-{backend}: options {first} and {second} must differ (both "
                              f"{getattr(fmt, first)!r}): the score compares the two labels")
    return checked


def make_engine(backend: str, model: str, options: Mapping[str, Any]) -> ScoringEngine:
    """The `backend` ("hf" or "vllm") engine for `model` as the options describe."""
    checked = engine_options(backend, options)
    kind = checked.get("kind", "classifier")
    max_length = checked.get("max_length")
    fmt = PromptFormat(**{k: checked[k] for k in _FORMAT_KEYS if k in checked})
    if backend == "hf":
        return HFEngine(model, kind, max_length, fmt, device=_hf_device(checked.get("device")),
                        dtype=checked.get("dtype", "float32"), trust_remote_code=checked.get("trust_remote_code", False))
    engine_args = {
        "tensor_parallel_size": checked.get("tensor_parallel_size", 1),
        "dtype": checked.get("dtype"),
        "gpu_memory_utilization": checked.get("gpu_memory_utilization"),
        "load_format": checked.get("load_format", "auto"),
        "enable_prefix_caching": checked.get("enable_prefix_caching", True),
        "enforce_eager": checked.get("enforce_eager"),
    }
    base_url = checked.get("base_url")
    if base_url:
        # a running server was started with its own engine arguments: these would do nothing
        ignored = sorted([k for k in SERVER_SIDE_OPTIONS if k in checked] + (["server"] if checked.get("server") else []))
        if ignored:
            raise OptionError(f"toolprm-vllm: option(s) {', '.join(ignored)} cannot be used with base_url: the "
                              "server you run was started with its own settings (set them when you start it)")
    if base_url or checked.get("server", False):
        return VLLMServerEngine(model, kind, base_url=base_url, api_key=checked.get("api_key"), max_length=max_length,
                                fmt=fmt, served_model_name=checked.get("served_model_name"), **engine_args)

    return VLLMEngine(model, kind, max_length, fmt, **engine_args)
