"""Read Inspect logs (`.eval` or `.json`) of the ToolPRMBench tasks through `inspect_ai.log`."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

from scorers.core import TrialOutcome, aggregate
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.names import DATA_KINDS, TIERS
from toolprm_tasks.core.safe_text import one_line
from toolprm_tasks.report import validate as v
from toolprm_tasks.report.compat import VersionError, canonical_version
from toolprm_tasks.report.lm_eval_reader import other_args
from toolprm_tasks.report.redact import redact, redact_text
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

_TASK = re.compile(r"^toolprmbench(?:(?P<rebuilt>_rebuilt)(?P<hard>_hard)?)?(?:_(?P<subset>" + "|".join(SUBSETS)
                   + r"))?$")
_POOLED = ("acc", "acc_cluster_se", "consistency", "first_rate", "parse_fail")


class SkippedLog(Exception):
    """A readable ToolPRMBench log with no results to report (an error or a cancelled run)."""


def read_log(path: Path, header: Any | None = None) -> Run:
    """One Inspect log of a ToolPRMBench task as a Run (the full log: samples give intervals)."""
    from inspect_ai.log import read_eval_log

    header = header or read_header(path)
    where = v.Where(str(path))
    task = v.text(where, header.eval.task, "eval.task")
    match = _TASK.match(task.rsplit("/", 1)[-1])
    meta = header.eval.metadata or {}
    if match is None or not isinstance(meta.get("data"), dict) or "protocol" not in meta:
        raise ForeignInput(f"{path}: Inspect log of task {one_line(repr(task), 200)}, not a ToolPRMBench task "
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
        raise ReportError(f"{path}: cannot read the samples of this Inspect log: {_why(exc)}") from None
    return _run(path, log, version)


def read_header(path: Path) -> Any:
    from inspect_ai.log import read_eval_log

    try:
        return read_eval_log(str(path), header_only=True)
    except Exception as exc:  # corrupt zip, foreign JSON: inspect_ai raises ValueError and friends
        raise ReportError(f"{path}: not a readable Inspect log ({_why(exc)})") from None


def _why(exc: Exception) -> str:
    """Why Inspect could not read a log, on one line: for a value its schema refuses (pydantic's
    ValidationError), the first field and the reason, as the report's own checks say it."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            field = ".".join(str(part) for part in first["loc"] if not str(part).startswith(("function-", "literal[")))
            return one_line(f"field {field!r}: {first['msg']}, got {first.get('input')!r}", 500)
        except Exception:  # not pydantic's shape after all: the plain message below
            pass
    return f"{type(exc).__name__}: {one_line(exc, 500)}"


def is_search_log(header: Any) -> bool:
    return str(header.eval.task).rsplit("/", 1)[-1].startswith("toolprm_search")


def log_metrics(where: v.Where, results: Any) -> dict[str, float | None]:
    """Every metric of a log, each a rate in [0, 1] (None: not computed, NaN)."""
    found: dict[str, float | None] = {}
    for score in results.scores:
        for name, metric in score.metrics.items():
            found[name] = v.fraction(where, metric.value, f"results.{score.name}.{name}")
    return found


def _model(where: v.Where, log: Any) -> tuple[str, str]:
    provider, _, rest = redact_text(v.text(where, log.eval.model, "eval.model")).partition("/")
    path = (log.eval.model_args or {}).get("model_path")
    if rest.startswith("/") or (rest == "local" and path):
        rest = Path(v.text(where, path or rest, "eval.model_args.model_path").rstrip("/")).name
    return provider, rest or provider


def _reduced_scores(where: v.Where, log: Any) -> dict[Any, Any]:
    """Each sample's score after Inspect's epoch reduction (what its metrics saw), by sample id."""
    for reduction in log.reductions or []:
        return {sample.sample_id: sample.value for sample in reduction.samples}
    raise where.error("reductions", "the epoch-reduced scores of a run with --epochs", None)


def _outcomes(where: v.Where, log: Any, epochs: int) -> list[TrialOutcome]:
    """One outcome per sample; with --epochs N, per sample id, from the epoch-reduced score."""
    reduced = _reduced_scores(where, log) if epochs > 1 else None
    outcomes, seen = [], set()
    for index, sample in enumerate(log.samples):
        if sample.id in seen:
            continue  # another epoch of a sample already counted (its reduced score is used)
        seen.add(sample.id)
        at = where.at(f"sample {index} ({one_line(sample.id, 100)})")
        if reduced is not None:
            value = reduced.get(sample.id)
        else:
            score = next(iter((sample.scores or {}).values()), None)
            value = score.value if score is not None else None
        if not isinstance(value, dict) or not {"correct", "first", "parsed"} <= set(value):
            raise ReportError(f"{at.path}: {at.record}: score value {one_line(repr(value), 200)} is not a "
                              "ToolPRMBench outcome")
        fields = v.mapping(at, sample.metadata, "metadata")
        outcomes.append(v.outcome(at, {**fields, **{k: value[k] for k in ("correct", "first", "parsed")}}))
    return outcomes


def _subsets(path: Path, where: v.Where, files: dict[str, Any], metrics: dict[str, float | None],
             trials: Counter[str]) -> list[str]:
    """The subsets the run has results for: a subset of the data the run never reached (a
    --limit run of the combined task stops inside the first subsets) is left out, so the row
    is flagged `limit` and `partial`; a subset with trials but no accuracy is a broken log."""
    single = len(files) == 1
    found = []
    for subset in (s for s in SUBSETS if s in files):
        name = "acc" if single else f"acc_{subset}"
        if metrics.get(name) is not None:
            found.append(subset)
        elif trials.get(subset, 0) > 0:
            raise ReportError(f"{path}: metric {name} missing ({trials[subset]} trial(s) of {subset} ran)")
    if not found:
        raise ReportError(f"{path}: no subset accuracy in the log's results (metrics: "
                          f"{one_line(', '.join(sorted(metrics)), 300) or 'none'})")
    return found


def _run(path: Path, log: Any, version: str) -> Run:
    where = v.Where(str(path))
    meta = v.mapping(where, log.eval.metadata, "eval.metadata")
    data = v.mapping(where, meta["data"], "eval.metadata.data")
    files = {v.text(where, k, "eval.metadata.data.files"): v.mapping(where, f, f"eval.metadata.data.files.{k}")
             for k, f in v.mapping(where, data.get("files"), "eval.metadata.data.files").items()}
    found = log_metrics(where, log.results)
    epochs = v.count(where, log.eval.config.epochs, "eval.config.epochs", default=1)
    outcomes = _outcomes(where, log, epochs) if log.samples else None
    if outcomes is not None:
        trials = Counter(o.subset for o in outcomes)
    else:
        trials = Counter(str(i).split("-", 1)[0] for i in (log.eval.dataset.sample_ids or []))
    subsets = _subsets(path, where, files, found, trials)
    single = len(files) == 1
    results: dict[str, SubsetResult] = {}
    for subset in subsets:
        at = f"eval.metadata.data.files.{subset}"
        result = SubsetResult(acc=found["acc" if single else f"acc_{subset}"], trials=trials.get(subset, 0),  # type: ignore[arg-type]
                              sha256=v.digest(where, files[subset].get("sha256"), f"{at}.sha256"),
                              unpinned=bool(v.flag(where, files[subset].get("unpinned"), f"{at}.unpinned")))
        if single:
            result.se = found.get("acc_cluster_se")
        elif outcomes is not None:
            result.se = finite(aggregate([o for o in outcomes if o.subset == subset])["acc_cluster_se"])
            result.se_source = RECOMPUTED
        results[subset] = result
    provider, model = _model(where, log)
    model_args = v.mapping(where, log.eval.model_args, "eval.model_args")
    seed_key = "order_seed" if "order_seed" in meta else "seed"  # `seed` before task version 3-A
    seed = meta.get(seed_key)
    run = Run(path=str(path), framework="inspect", model=model, backend=provider,
              model_args=other_args(model_args, ("model_path",)),
              protocol=v.text(where, meta["protocol"], "eval.metadata.protocol"),
              prompt=v.text(where, meta.get("prompt"), "eval.metadata.prompt", default="None"),
              order=v.text(where, meta.get("order"), "eval.metadata.order", default="None"),
              seed=None if seed is None else v.integer(where, seed, f"eval.metadata.{seed_key}"),
              data_kind=v.choice(where, meta.get("data_kind", data.get("data", "official")), "eval.metadata.data_kind",
                                 DATA_KINDS),
              task_version=version, subsets=results, avg=found.get("avg") if not single else None,
              outcomes=outcomes,
              tier=v.choice(where, meta.get("tier", "all"), "eval.metadata.tier", TIERS))
    run.made_with = _made_with(where, log, meta)
    started = v.iso_time(where, log.stats.started_at, "stats.started_at")
    run.started = str(log.stats.started_at or "")
    run.pooled = {k: value for k, value in found.items()
                  if value is not None and (k in _POOLED or (k.startswith("acc_") and k[4:] not in SUBSETS))}
    run.pooled_sources = dict.fromkeys(run.pooled, FRAMEWORK_METRIC)
    _flags(run, log, found, files, epochs, where)
    run.command = _command(log)
    run.seconds = v.duration(where, started, v.iso_time(where, log.stats.completed_at, "stats.completed_at"),
                             "stats.completed_at")
    tokens = sum(v.count(where, getattr(u, kind) or 0, f"stats.model_usage.{name}.{kind}", maximum=v.MAX_TOKENS)
                 for name, u in (log.stats.model_usage or {}).items() for kind in ("input_tokens", "output_tokens"))
    run.tokens = tokens or None
    return run


def _flags(run: Run, log: Any, metrics: dict[str, float | None], files: dict[str, Any], epochs: int,
           where: v.Where) -> None:
    config = log.eval.config
    cases = sum(v.count(where, f.get("cases", 0), f"eval.metadata.data.files.{name}.cases") for name, f in files.items())
    expected = cases * (2 if run.order == "both" else 1)
    if config.limit is not None or config.sample_id is not None or run.trials < expected:
        run.flags.add("limit")
    if epochs > 1:
        run.flags.add("epochs")
    if v.flag(where, v.mapping(where, log.eval.metadata["data"], "eval.metadata.data").get("unpinned"),
              "eval.metadata.data.unpinned") or any(s.unpinned for s in run.subsets.values()):
        run.flags.add("unpinned")
    if "truncated" in metrics:
        if metrics["truncated"] is None and run.backend not in NO_CONTEXT_LIMIT:
            run.flags.add("truncation-unknown")
        elif metrics["truncated"] is not None and metrics["truncated"] > 0:
            run.flags.add("truncated")


def _command(log: Any) -> str:
    spec = log.eval
    task = spec.task_file or f"toolprm_tasks/{spec.task_registry_name or spec.task}".replace("toolprm_tasks/toolprm_tasks/",
                                                                                         "toolprm_tasks/")
    parts = ["inspect", "eval", task, "--model", redact_text(str(spec.model))]
    for key, value in (spec.model_args or {}).items():
        parts += ["-M", f"{key}={redact(str(key), value)}"]  # never a secret in a report (report.redact)
    for key, value in (spec.task_args_passed or {}).items():
        parts += ["-T", f"{key}={redact(str(key), value)}"]
    parts += ["--limit", str(spec.config.limit)] if spec.config.limit is not None else []
    parts += ["--epochs", str(spec.config.epochs)] if (spec.config.epochs or 1) > 1 else []
    return " ".join(shlex.quote(str(p)) for p in parts) + " --log-dir OUT"


def _made_with(where: v.Where, log: Any, meta: dict[str, Any]) -> dict[str, str]:
    """The versions the run recorded: Inspect's own (`eval.packages`) and our task's metadata
    (`versions`: toolprm-tasks, inspect-ai, lm-eval as the task saw them)."""
    recorded = v.mapping(where, meta.get("versions"), "eval.metadata.versions")
    out = {name: v.text(where, recorded[name], f"eval.metadata.versions.{name}")
           for name in ("toolprm-tasks", "inspect-ai") if recorded.get(name) is not None}
    packages = log.eval.packages if isinstance(log.eval.packages, dict) else {}
    if isinstance(packages.get("inspect_ai"), str):
        out["inspect-ai"] = packages["inspect_ai"]
    return out

