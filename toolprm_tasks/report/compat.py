"""Which task versions the report can read: the project's one list, and the rule for the rest."""

from __future__ import annotations

import re

from toolprm_tasks.core.versions import LM_EVAL_LEGACY_VERSIONS, SEARCH_VERSIONS, TASK_VERSION, TASK_VERSIONS

# every published version (the current one always: the report ships with the tasks it reads)
KNOWN_TASK_VERSIONS: tuple[str, ...] = tuple(dict.fromkeys((*TASK_VERSIONS, TASK_VERSION)))
# versions whose combined-task rates pooled all trials (later: unweighted means over subsets)
POOLED_OVER_TRIALS: frozenset[str] = frozenset({"1-A"})
_SCHEME = re.compile(r"^(\d+)-([A-Z])$")


class VersionError(ValueError):
    """A results file from a task version this report cannot read (the message says why)."""


def _order(version: str) -> tuple[int, str]:
    match = _SCHEME.match(version)
    return (int(match.group(1)), match.group(2)) if match else (-1, "")


def canonical_version(raw: object, known: tuple[str, ...] = KNOWN_TASK_VERSIONS,
                      legacy: dict[str, str] | None = None) -> str:
    """The "N-X" version a results file was written by, or VersionError: a newer version is
    refused (its metrics may mean something else), and so is anything unrecognised."""
    text = repr(raw) if isinstance(raw, float) else ("" if raw is None else str(raw).strip())
    text = (LM_EVAL_LEGACY_VERSIONS if legacy is None else legacy).get(text, text)
    if text in known:
        return text
    names = ", ".join(known)
    if _SCHEME.match(text) and _order(text) > max(_order(v) for v in known):
        raise VersionError(f"task version {text} is newer than this toolprm-tasks understands (it knows {names}); "
                           "upgrade toolprm-tasks to report it")
    raise VersionError(f"unknown task version {text or '(none)'!r} (this toolprm-tasks knows {names}); "
                       "it was not written by a released ToolPRMBench task")


def search_versions() -> tuple[str, ...]:
    """The versions of the search task (`toolprm_search` has its own: versions.SEARCH_VERSIONS)."""
    return tuple(SEARCH_VERSIONS)
