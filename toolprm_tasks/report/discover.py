"""Turn the paths a user gives into runs: files by kind, folders searched for known files.

A file named on the command line must be a result the report can read, or the report stops
with an error naming it. Inside a folder, files the frameworks write beside their results
(lm-eval samples, Inspect's log index) are used or passed over; any other file is listed in
the report as not read, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.core.fetch import sha256_file
from toolprm_tasks.report import inspect_reader, lm_eval_reader, search_reader
from toolprm_tasks.report.runs import ForeignInput, ReportError, Run

# written by the frameworks beside their results: read through the results, or not results at all
_COMPANIONS = ("samples_*.jsonl", "logs.json", "eval-set.json", ".eval-set-id", "*.buffer", "listing.json")


@dataclass
class Inputs:
    runs: list[Run] = field(default_factory=list)
    search: list[search_reader.SearchRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # readable inputs with nothing to report, and why
    not_read: list[str] = field(default_factory=list)  # other files found in folders


def _is_inspect_json(path: Path) -> bool:
    """Inspect's JSON log format starts with its version and eval spec."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return '"version"' in head and '"eval"' in head


def _read_inspect(path: Path, inputs: Inputs) -> None:
    header = inspect_reader.read_header(path)
    try:
        if inspect_reader.is_search_log(header):
            inputs.search.append(search_reader.read_search_log(path, header))
        else:
            inputs.runs.append(inspect_reader.read_log(path, header))
    except inspect_reader.SkippedLog as exc:
        inputs.skipped.append(str(exc))


def _read_file(path: Path, inputs: Inputs, explicit: bool) -> None:
    try:
        _dispatch(path, inputs, explicit)
    except ForeignInput as exc:
        if explicit:
            raise
        inputs.not_read.append(str(exc))


def _dispatch(path: Path, inputs: Inputs, explicit: bool) -> None:
    if not explicit and any(path.match(pattern) for pattern in _COMPANIONS):
        return  # a run's companion (eval-set's logs.json looks like a log: version and eval keys)
    if lm_eval_reader.is_results_file(path):
        inputs.runs.extend(lm_eval_reader.read_results(path))
    elif path.suffix == ".eval" or (path.suffix == ".json" and (explicit or _is_inspect_json(path))):
        _read_inspect(path, inputs)
    elif explicit:
        raise ReportError(f"{path}: neither an lm-eval results file (results_*.json) nor an Inspect log "
                          "(.eval, .json)")
    else:
        inputs.not_read.append(str(path))


def _may_hold_runs(path: Path) -> bool:
    return lm_eval_reader.is_results_file(path) or path.suffix in (".eval", ".json")


def _digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None  # the reader says what is wrong with it


_LISTED = 5  # reasons named in "nothing to report"; the rest counted


def collect(paths: list[Path]) -> Inputs:
    """Every run under the given files and folders (ReportError on a bad or foreign file). A
    file met twice (named twice, a folder and a file in it, or a byte-identical copy) is read
    once: the same run twice would be two rows that look like a rerun."""
    inputs = Inputs()
    seen: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*"))
            files = [(p, False) for p in found if p.is_file()]
            # never passed over in silence: rglob does not enter a linked folder, and a dead link
            # or a pipe is no file
            inputs.not_read += [f"{p}: a linked folder (not followed: name it to read it)" if p.is_dir()
                                else f"{p}: not a regular file" for p in found
                                if not p.is_file() and (p.is_symlink() or not p.is_dir())]
        elif path.is_file():
            files = [(path, True)]
        else:
            raise ReportError(f"{path}: no such file or folder")
        for file, explicit in files:
            digest = _digest(file) if _may_hold_runs(file) else None
            if digest is not None and digest in seen:
                inputs.not_read.append(f"{file}: the same file as {seen[digest]} (read once)")
                continue
            _read_file(file, inputs, explicit=explicit)
            if digest is not None:
                seen[digest] = file
    if not inputs.runs and not inputs.search:
        reasons = inputs.skipped + inputs.not_read  # why each file found was passed over
        found = "; ".join(reasons[:_LISTED]) + (f"; and {len(reasons) - _LISTED} more" if len(reasons) > _LISTED
                                                else "") if reasons else "no lm-eval results or Inspect logs"
        raise ReportError(f"nothing to report in {', '.join(map(str, paths))}: {found}")
    return inputs


def describe(inputs: Inputs) -> dict[str, Any]:
    return {"runs": len(inputs.runs), "search_runs": len(inputs.search), "skipped": inputs.skipped,
            "not_read": inputs.not_read}
