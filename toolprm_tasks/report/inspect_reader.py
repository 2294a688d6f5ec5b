"""Read Inspect logs (`.eval` or `.json`) of the ToolPRMBench tasks through `inspect_ai.log`."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

from scorers.core import TrialOutcome, aggregate, outcome
from toolprm_tasks.cases import SUBSETS
from toolprm_tasks.report.compat import VersionError, canonical_version
from toolprm_tasks.report.lm_eval_reader import SECRET
from toolprm_tasks.report.runs import (
    FRAMEWORK_METRIC,
    NO_CONTEXT_LIMIT,
    RECOMPUTED,
    ForeignInput,
    ReportError,
    Run,
    SubsetResult,
    finite,
)

_TASK = re.compile(r"^toolprmbench(?P<rebuilt>_rebuilt)?(?:_(?P<subset>" + "|".join(SUBSETS) + r"))?$")
_POOLED = ("acc", "acc_cluster_se", "consistency", "first_rate", "parse_fail")


class SkippedLog(Exception):
    """A readable ToolPRMBench log with no results to report (an error or a cancelled run)."""


def read_log(path: Path, header: Any | None = None) -> Run:
    """One Inspect log of a ToolPRMBench task as a Run (the full log: samples give intervals)."""
    from inspect_ai.log import read_eval_log

    header = header or read_header(path)
    match = _TASK.match(header.eval.task.rsplit("/", 1)[-1])
    meta = header.eval.metadata or {}
    if match is None or not isinstance(meta.get("data"), dict) or "protocol" not in meta:
        raise ForeignInput(f"{path}: Inspect log of task {header.eval.task!r}, not a ToolPRMBench task "
                          "(no data fingerprint and protocol in the task metadata)")
    try:
        version = canonical_version(header.eval.task_version)
    except VersionError as exc:
        raise ReportError(f"{path}: {exc}") from None
    if header.status != "success" or header.results is None:
        raise SkippedLog(f"{path}: status {header.status!r}: no results to report")
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # inspect_ai raises plain ValueError/KeyError on damaged logs
        raise ReportError(f"{path}: cannot read the samples of this Inspect log: {exc}") from None
    return _run(path, log, version)


def read_header(path: Path) -> Any:
    from inspect_ai.log import read_eval_log

    try:
        return read_eval_log(str(path), header_only=True)
    except Exception as exc:  # corrupt zip, foreign JSON: inspect_ai raises ValueError and friends
        raise ReportError(f"{path}: not a readable Inspect log ({type(exc).__name__}: {exc})") from None


def is_search_log(header: Any) -> bool:
    return header.eval.task.rsplit("/", 1)[-1].startswith("toolprm_search")


def _metrics(log: Any) -> dict[str, float | None]:
    return {name: finite(m.value) for score in log.results.scores for name, m in score.metrics.items()}


def _model(log: Any) -> tuple[str, str]:
    provider, _, rest = log.eval.model.partition("/")
    path = (log.eval.model_args or {}).get("model_path")
    if rest.startswith("/") or (rest == "local" and path):
        rest = Path(str(path or rest).rstrip("/")).name
    return provider, rest or provider


def _outcomes(path: Path, samples: list[Any]) -> list[TrialOutcome]:
    outcomes = []
    for index, sample in enumerate(samples):
        score = next(iter((sample.scores or {}).values()), None)
        value = score.value if score is not None else None
        if not isinstance(value, dict) or not {"correct", "first", "parsed"} <= set(value):
            raise ReportError(f"{path}: sample {index} ({sample.id}): score value {value!r} is not a ToolPRMBench "
                              "outcome")
        try:
            base = outcome(sample.metadata, None)  # the trial fields, from the sample metadata
        except KeyError as exc:
            raise ReportError(f"{path}: sample {index} ({sample.id}): metadata field {exc} missing") from None
        outcomes.append(TrialOutcome(**{**base.to_dict(), "first": float(value["first"]),
                                        "parsed": float(value["parsed"]), "correct": float(value["correct"])}))
    return outcomes


def _run(path: Path, log: Any, version: str) -> Run:
    meta = log.eval.metadata
    files = meta["data"].get("files") or {}
    subsets = [s for s in SUBSETS if s in files]
    metrics = _metrics(log)
    outcomes = _outcomes(path, log.samples) if log.samples else None
    if outcomes is not None:
        trials = Counter(o.subset for o in outcomes)
    else:
        trials = Counter(str(i).split("-", 1)[0] for i in (log.eval.dataset.sample_ids or []))
    results: dict[str, SubsetResult] = {}
    for subset in subsets:
        acc = metrics.get("acc" if len(subsets) == 1 else f"acc_{subset}")
        if acc is None:
            raise ReportError(f"{path}: metric {'acc' if len(subsets) == 1 else f'acc_{subset}'} missing")
        result = SubsetResult(acc=acc, trials=trials.get(subset, 0), sha256=files[subset].get("sha256"),
                              unpinned=bool(files[subset].get("unpinned")))
        if len(subsets) == 1:
            result.se = metrics.get("acc_cluster_se")
        elif outcomes is not None:
            result.se = finite(aggregate([o for o in outcomes if o.subset == subset])["acc_cluster_se"])
            result.se_source = RECOMPUTED
        results[subset] = result
    provider, model = _model(log)
    from toolprm_tasks.report.lm_eval_reader import other_args

    run = Run(path=str(path), framework="inspect", model=model, backend=provider,
              model_args=other_args(log.eval.model_args or {}, ("model_path",)), protocol=str(meta["protocol"]),
              prompt=str(meta.get("prompt")), order=str(meta.get("order")), seed=meta.get("seed"),
              data_kind=str(meta.get("data_kind", meta["data"].get("data", "official"))), task_version=version,
              subsets=results, avg=metrics.get("avg") if len(subsets) > 1 else None, outcomes=outcomes,
              started=str(log.stats.started_at or ""))
    run.pooled = {k: v for k, v in metrics.items()
                  if v is not None and (k in _POOLED or (k.startswith("acc_") and k[4:] not in SUBSETS))}
    run.pooled_sources = dict.fromkeys(run.pooled, FRAMEWORK_METRIC)
    _flags(run, log, metrics, files)
    run.command = _command(log)
    run.seconds = _seconds(log.stats.started_at, log.stats.completed_at)
    usage = log.stats.model_usage or {}
    tokens = sum((u.input_tokens or 0) + (u.output_tokens or 0) for u in usage.values())
    run.tokens = tokens or None
    return run


def _flags(run: Run, log: Any, metrics: dict[str, float | None], files: dict[str, Any]) -> None:
    config = log.eval.config
    expected = sum(int(f.get("cases", 0)) for f in files.values()) * (2 if run.order == "both" else 1)
    if config.limit is not None or config.sample_id is not None or run.trials < expected:
        run.flags.add("limit")
    if log.eval.metadata["data"].get("unpinned") or any(s.unpinned for s in run.subsets.values()):
        run.flags.add("unpinned")
    if "truncated" in metrics:
        if metrics["truncated"] is None and run.backend not in NO_CONTEXT_LIMIT:
            run.flags.add("truncation-unknown")
        elif metrics["truncated"] > 0:
            run.flags.add("truncated")


def _command(log: Any) -> str:
    spec = log.eval
    task = spec.task_file or f"toolprm_tasks/{spec.task_registry_name or spec.task}".replace("toolprm_tasks/toolprm_tasks/",
                                                                                         "toolprm_tasks/")
    parts = ["inspect", "eval", task, "--model", spec.model]
    for key, value in (spec.model_args or {}).items():
        parts += ["-M", f"{key}={'***' if SECRET.search(key) else value}"]  # never a key in a report
    for key, value in (spec.task_args_passed or {}).items():
        parts += ["-T", f"{key}={value}"]
    parts += ["--limit", str(spec.config.limit)] if spec.config.limit is not None else []
    return " ".join(shlex.quote(str(p)) for p in parts) + " --log-dir OUT"


def _seconds(started: str | None, completed: str | None) -> float | None:
    try:
        return (dt.datetime.fromisoformat(str(completed)) - dt.datetime.fromisoformat(str(started))).total_seconds()
    except (TypeError, ValueError):
        return None
