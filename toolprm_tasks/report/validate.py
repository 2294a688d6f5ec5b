"""The one check of every value the report reads from a results file, a samples file or a log.

A file can be readable JSON (or a readable Inspect log) and still hold a value of the wrong
kind: a date of NaN, a count of "lots", a list where lm-eval writes an object, a seed of "abc",
a token count of 10**400, an accuracy of 7.5, a negative time, a name with a lone surrogate.
Every reader takes its values through the functions here, which return the value in the type
the report uses or raise `ReportError` with one line naming the file, the record, the field,
what was expected and what was found. Nothing is clamped, guessed or dropped.

Out-of-range numbers are refused, not flagged: the frameworks compute every rate from per-trial
outcomes in [0, 1] and every time from a clock, so an accuracy of 7.5 or a negative duration
means a damaged or foreign file, and no number of that run can be trusted.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scorers.core import TrialOutcome
from toolprm_tasks.core.cases import ERROR_TYPE_SLUGS, SUBSETS
from toolprm_tasks.core.safe_text import one_line
from toolprm_tasks.report.runs import ReportError

MAX_COUNT = 10**12  # trials, cases, samples: far above any benchmark
MAX_TOKENS = 10**15  # tokens of a run
MAX_SECONDS = 10**9  # about 31 years of wall clock
_LAST_DATE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp()  # what a date can show
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_NOT_A_NUMBER = ("N/A", "")  # lm-eval writes "N/A" for a metric it could not compute


@dataclass(frozen=True)
class Where:
    """A place in an input, for errors: the file, and within it a record (a task, a sample)."""

    path: str
    record: str = ""

    def at(self, record: str) -> Where:
        return Where(self.path, f"{self.record}, {record}" if self.record else record)

    def error(self, field: str, expected: str, value: Any) -> ReportError:
        place = f"{self.path}: {self.record}" if self.record else self.path
        return ReportError(one_line(f"{place}: field {field!r}: expected {expected}, got {_shown(value)}", 2000))


def _shown(value: Any) -> str:
    """The wrong value, short and on one line (a 200,000-item list is not printed)."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, str):
        return repr(one_line(value, 60)) if not _SURROGATE.search(value) else "text with a lone surrogate (not Unicode)"
    return one_line(repr(value), 60)


def mapping(where: Where, value: Any, field: str, *, required: bool = False) -> dict[str, Any]:
    """An object; absent (None) is an empty one unless `required`."""
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise where.error(field, "an object", value)
    return dict(value)


def text(where: Where, value: Any, field: str, *, default: str | None = None, scalar: bool = False) -> str:
    """Text (valid Unicode); with `scalar`, a number or a boolean too, as text (model arguments)."""
    if value is None and default is not None:
        return default
    if scalar and (isinstance(value, (int, float, bool))):
        return str(value)
    if not isinstance(value, str):
        raise where.error(field, "text" + (" or a number" if scalar else ""), value)
    if _SURROGATE.search(value):
        raise where.error(field, "valid Unicode text", value)
    return value


def optional_text(where: Where, value: Any, field: str) -> str | None:
    return None if value is None else text(where, value, field)


def choice(where: Where, value: Any, field: str, allowed: tuple[str, ...]) -> str:
    found = text(where, value, field)
    if found not in allowed:
        raise where.error(field, "one of " + ", ".join(allowed), value)
    return found


def count(where: Where, value: Any, field: str, *, maximum: int = MAX_COUNT, default: int | None = None) -> int:
    """A whole number from 0 to `maximum` (a float with no fraction is one: JSON writers differ)."""
    if value is None and default is not None:
        return default
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise where.error(field, f"a whole number from 0 to {maximum:.0e}".replace("e+", "e"), value)
    return value


def integer(where: Where, value: Any, field: str, *, default: int | None = None) -> int:
    """A whole number, or text of one (as the tasks accept a seed: `int(order_seed)`)."""
    if value is None and default is not None:
        return default
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise where.error(field, "a whole number", value)
    return value


def number(where: Where, value: Any, field: str, low: float, high: float, *, text_ok: bool = False) -> float | None:
    """A finite number in [low, high]; None for a metric the framework could not compute (absent,
    NaN, lm-eval's "N/A"). With `text_ok`, a number written as text (lm-eval's times)."""
    if value is None or (isinstance(value, str) and value.strip() in _NOT_A_NUMBER):
        return None
    if text_ok and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise where.error(field, f"a number from {low:g} to {high:g}", value) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(field, f"a number from {low:g} to {high:g}", value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if not low <= value <= high:
        raise where.error(field, f"a number from {low:g} to {high:g}", value)
    return float(value)


def fraction(where: Where, value: Any, field: str) -> float | None:
    """A rate or its standard error: a number from 0 to 1 (None: not computed)."""
    return number(where, value, field, 0.0, 1.0)


def required_fraction(where: Where, value: Any, field: str) -> float:
    found = fraction(where, value, field)
    if found is None:
        raise where.error(field, "a number from 0 to 1", value)
    return found


def seconds(where: Where, value: Any, field: str) -> float | None:
    """A duration: a non-negative number of seconds (lm-eval writes it as text)."""
    return number(where, value, field, 0.0, MAX_SECONDS, text_ok=True)


def flag(where: Where, value: Any, field: str) -> bool | None:
    """A yes/no: a boolean, or 0/1 (lm-eval's metric form); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise where.error(field, "true/false (or 0/1)", value)


def digest(where: Where, value: Any, field: str) -> str | None:
    """A SHA-256 hex digest, or None when the run does not say."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise where.error(field, "a SHA-256 digest (64 hex digits)", value)
    return value


def epoch_date(where: Where, value: Any, field: str) -> str:
    """A POSIX time (lm-eval's `date`) as ISO 8601 text; "" when absent."""
    if value is None:
        return ""
    found = number(where, value, field, 0.0, _LAST_DATE, text_ok=True)
    if found is None:
        raise where.error(field, "a time in seconds since 1970", value)
    return dt.datetime.fromtimestamp(found, tz=dt.UTC).isoformat(timespec="seconds")


def iso_time(where: Where, value: Any, field: str) -> dt.datetime | None:
    """An ISO 8601 time (Inspect's `started_at`); None when absent or empty."""
    if value is None or value == "":
        return None
    found = text(where, value, field)
    try:
        parsed = dt.datetime.fromisoformat(found)
    except ValueError:
        raise where.error(field, "an ISO 8601 time", value) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def duration(where: Where, started: dt.datetime | None, completed: dt.datetime | None, field: str) -> float | None:
    """Seconds from start to end; a run that ends before it starts is refused."""
    if started is None or completed is None:
        return None
    value = (completed - started).total_seconds()
    if value < 0:
        raise where.error(field, "a time after the start", completed.isoformat())
    return value


# ----------------------------------------------------------------------------- trial outcomes

_TEXT_FIELDS = ("trial_id", "case_id", "subset", "cluster", "error_type")
_RATE_FIELDS = ("first", "parsed", "correct")


def outcome(where: Where, fields: Mapping[str, Any]) -> TrialOutcome:
    """One trial's outcome (scorers.core.TrialOutcome) from the fields a framework logged:
    the trial's identity as text, the chosen position 1 or 2, the three rates in [0, 1]."""
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if name not in fields:
            raise where.error(name, "a trial field (text)", None)
        values[name] = text(where, fields[name], name, scalar=True)
    choice(where, values["subset"], "subset", SUBSETS)
    choice(where, values["error_type"], "error_type", ERROR_TYPE_SLUGS)
    position = fields.get("chosen_position")
    if isinstance(position, str) and position.strip() in ("1", "2"):
        position = int(position)
    if isinstance(position, bool) or position not in (1, 2):
        raise where.error("chosen_position", "1 or 2", position)
    values["chosen_position"] = int(position)
    for name in _RATE_FIELDS:
        values[name] = required_fraction(where, fields.get(name), name)
    return TrialOutcome(**values)
