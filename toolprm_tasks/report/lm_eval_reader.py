"""Read lm-eval output (`results_<time>.json`, and `samples_<task>_<time>.jsonl` when logged).

One results file can hold several ToolPRMBench runs (one per protocol variant and data set,
e.g. `--tasks toolprmbench_bfcl,toolprmbench_bfcl_pointwise`); each becomes a `Run`. Other
tasks in the file are named in the run's notes, never read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

from scorers.core import METRICS, TrialOutcome, aggregate
from scorers.lm_eval_adapter import outcomes_from_items
from toolprm_tasks.cases import SUBSETS
from toolprm_tasks.data import PINNED_FILES
from toolprm_tasks.jsonio import JSONFileError, read_json, read_jsonl
from toolprm_tasks.report.compat import VersionError, canonical_version
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
from toolprm_tasks.trials import DEFAULT_PROMPT, DEFAULT_SEED

_TASK = re.compile(r"^toolprmbench(?P<rebuilt>_rebuilt)?_(?P<subset>" + "|".join(SUBSETS)
                   + r")(?P<variant>_pairwise_ll|_pointwise|_prm)?$")
_TIMESTAMP = re.compile(r"^results_(?P<ts>.+)\.json$")
# the model argument that names what was judged, per lm-eval backend (else `model_name`)
_NAME_ARGS = ("judge", "pretrained", "model", "path")


def is_results_file(path: Path) -> bool:
    return bool(_TIMESTAMP.match(path.name))


def _load_json(path: Path) -> Any:
    """An lm-eval results file through the project's one JSON reader (lm-eval writes NaN)."""
    try:
        return read_json(path, allow_nonstandard=True)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except JSONFileError as exc:
        raise ReportError(f"{exc}; a truncated or corrupt lm-eval results file?") from None


SECRET = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)  # model arguments never shown


def _model_args(config: dict[str, Any]) -> dict[str, str]:
    """The run's model arguments; a secret (an API key, a token) never reaches a report: its
    value is shown as ***."""
    raw = config.get("model_args") or {}
    if isinstance(raw, dict):
        args = {str(k): str(v) for k, v in raw.items()}
    else:
        args = {}
        for part in str(raw).split(","):  # lm-eval's own `key=value,key=value` form
            if "=" in part:
                key, value = part.split("=", 1)
                args[key.strip()] = value.strip()
    return {key: "***" if SECRET.search(key) else value for key, value in args.items()}


def other_args(args: dict[str, Any], name_keys: tuple[str, ...] = _NAME_ARGS) -> str:
    """The model arguments besides the one naming the model, as sorted `key=value` text."""
    return ",".join(f"{k}={'***' if SECRET.search(k) else args[k]}" for k in sorted(args) if k not in name_keys)


def model_name(backend: str, args: dict[str, str], fallback: str) -> str:
    for key in _NAME_ARGS:
        if args.get(key):
            return Path(args[key].rstrip("/")).name or args[key]
    return fallback or backend


def _samples(results_path: Path, task: str) -> list[dict[str, Any]] | None:
    ts = _TIMESTAMP.match(results_path.name).group("ts")  # type: ignore[union-attr]
    path = results_path.with_name(f"samples_{task}_{ts}.jsonl")
    if not path.is_file():
        return None
    try:
        # the one JSON Lines reader: lines split at \n only, as lm-eval writes them with
        # ensure_ascii=False (a U+2028 in a model's answer is not a line break)
        values = read_jsonl(path, allow_nonstandard=True)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except JSONFileError as exc:
        raise ReportError(str(exc)) from None
    rows = []
    for number, row in enumerate(values, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("acc"), dict) or not isinstance(row.get("doc"), dict):
            raise ReportError(f"{path}: record {number}: field 'acc' or 'doc' missing: not a ToolPRMBench sample")
        rows.append(row)
    return rows


def _outcomes(rows: list[dict[str, Any]], path: str) -> list[TrialOutcome]:
    try:
        return outcomes_from_items([row["acc"] for row in rows])
    except (KeyError, TypeError) as exc:
        raise ReportError(f"{path}: a sample's 'acc' record lacks outcome field {exc}") from None


def _data_digest(rows: list[dict[str, Any]], path: str) -> str | None:
    digests = {row["doc"].get("data_sha256") for row in rows}
    if len(digests) > 1:
        raise ReportError(f"{path}: samples of one task carry different data digests {sorted(map(str, digests))}")
    return digests.pop() if digests else None


def _subset(results_path: Path, task: str, metrics: dict[str, Any], n_samples: dict[str, Any],
            data_kind: str) -> tuple[SubsetResult, list[TrialOutcome] | None]:
    acc = finite(metrics.get("acc,none"))
    if acc is None:
        raise ReportError(f"{results_path}: task {task}: field 'acc,none' missing or not a number")
    trials = int(n_samples.get("effective", metrics.get("sample_len", 0)))
    unpinned = metrics.get("data_unpinned,none")
    result = SubsetResult(acc=acc, trials=trials, se=finite(metrics.get("acc_cluster_se,none")),
                          unpinned=None if unpinned is None else bool(unpinned),
                          metrics={m: v for m in (*METRICS, "truncated")
                                   if (v := finite(metrics.get(f"{m},none"))) is not None})
    rows = _samples(results_path, task)
    outcomes = None
    if rows is not None:
        samples_path = f"{results_path.parent}/samples_{task}_*.jsonl"
        outcomes = _outcomes(rows, samples_path)
        recomputed = aggregate(outcomes)["acc"]
        if len(outcomes) != trials or not math.isclose(recomputed, acc, rel_tol=1e-9, abs_tol=1e-12):
            raise ReportError(f"{samples_path}: {len(outcomes)} samples with accuracy {recomputed} do not match "
                              f"{results_path.name} ({trials} samples, accuracy {acc}): samples of another run?")
        result.sha256 = _data_digest(rows, samples_path)
    elif data_kind == "official" and result.unpinned is False:
        # the loader refuses a file that differs from a published pin unless told to (and then
        # says unpinned), so a pinned subset's digest is known without the samples
        result.sha256 = PINNED_FILES[task_subset(task)].sha256
    return result, outcomes


def task_subset(task: str) -> str:
    return _TASK.match(task).group("subset")  # type: ignore[union-attr]


def read_results(path: Path) -> list[Run]:
    """Every ToolPRMBench run in one lm-eval results file."""
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or "configs" not in data:
        raise ReportError(f"{path}: not an lm-eval results file (no 'results' and 'configs')")
    ours = {task: m for task, m in data["results"].items() if _TASK.match(task)}
    if not ours:
        others = ", ".join(sorted(data["results"])) or "none"
        raise ForeignInput(f"{path}: no ToolPRMBench task in this lm-eval results file (tasks: {others})")
    config = data.get("config") or {}
    backend = str(config.get("model") or "unknown")
    args = _model_args(config)
    families: dict[tuple[str, str], list[str]] = {}
    for task in ours:
        match = _TASK.match(task)
        kind = "rebuilt" if match.group("rebuilt") else "official"  # type: ignore[union-attr]
        families.setdefault((kind, match.group("variant") or ""), []).append(task)  # type: ignore[union-attr]
    ignored = sorted(t for t in data["results"] if not _TASK.match(t) and t not in _group_names(families))
    runs = [_run(path, data, backend, args, kind, variant, tasks) for (kind, variant), tasks in sorted(families.items())]
    for run in runs:
        if ignored:
            run.notes.append(f"other tasks in the file not read: {', '.join(ignored)}")
        if len(runs) > 1:
            run.notes.append(f"time and tokens cover {len(runs)} runs in one file: not attributed")
            run.seconds = run.tokens = None
    return runs


def _group_names(families: dict[tuple[str, str], list[str]]) -> set[str]:
    return {_group(kind, variant) for kind, variant in families}


def _group(kind: str, variant: str) -> str:
    return "toolprmbench" + ("_rebuilt" if kind == "rebuilt" else "") + variant


def _task_settings(path: Path, data: dict[str, Any], task: str) -> dict[str, Any]:
    cfg = (data.get("configs") or {}).get(task)
    if not isinstance(cfg, dict):
        raise ReportError(f"{path}: task {task}: its 'configs' entry is missing")
    try:
        version = canonical_version((data.get("versions") or {}).get(task, (cfg.get("metadata") or {}).get("version")))
    except VersionError as exc:
        raise ReportError(f"{path}: task {task}: {exc}") from None
    kwargs, meta = cfg.get("dataset_kwargs") or {}, cfg.get("metadata") or {}
    protocol = str(kwargs.get("protocol", "generative"))
    label = protocol
    if protocol == "pointwise" and kwargs.get("norm", meta.get("norm", "char")) != "none":
        label = f"pointwise norm={kwargs.get('norm', meta.get('norm', 'char'))}"
    return {"version": version, "protocol": label, "prompt": str(meta.get("prompt") or DEFAULT_PROMPT[protocol]),
            "order": str(meta.get("order", "seeded")), "seed": int(meta.get("order_seed", DEFAULT_SEED))}


def _run(path: Path, data: dict[str, Any], backend: str, args: dict[str, str], kind: str, variant: str,
         tasks: list[str]) -> Run:
    settings = {task: _task_settings(path, data, task) for task in tasks}
    distinct = {json.dumps(s, sort_keys=True) for s in settings.values()}
    if len(distinct) > 1:
        raise ReportError(f"{path}: tasks {', '.join(tasks)} ran with different settings: {sorted(distinct)}")
    first = settings[tasks[0]]
    subsets: dict[str, SubsetResult] = {}
    all_outcomes: list[TrialOutcome] = []
    have_samples = True
    for task in sorted(tasks, key=lambda t: SUBSETS.index(task_subset(t))):
        n = (data.get("n-samples") or {}).get(task) or {}
        result, outcomes = _subset(path, task, data["results"][task], n, kind)
        subsets[task_subset(task)] = result
        if outcomes is None:
            have_samples = False
        else:
            all_outcomes.extend(outcomes)
    name_key = next((k for k in _NAME_ARGS if args.get(k)), None)
    run = Run(path=str(path), framework="lm-eval", model=model_name(backend, args, str(data.get("model_name") or "")),
              backend=backend, model_args=other_args(args, (name_key,) if name_key else ()), protocol=first["protocol"], prompt=first["prompt"], order=first["order"],
              seed=first["seed"], data_kind=kind, task_version=first["version"], subsets=subsets,
              outcomes=all_outcomes if have_samples else None, started=_date(data.get("date")))
    group = data.get("groups", {}).get(_group(kind, variant)) or data["results"].get(_group(kind, variant))
    if isinstance(group, dict):
        run.avg = finite(group.get("acc,none"))
    _pool(run, group if isinstance(group, dict) else None)
    _flags(run, data, tasks)
    run.command = _command(data, args, tasks, _group(kind, variant) if isinstance(group, dict) else None,
                           samples=run.outcomes is not None)
    run.seconds = finite(_float(data.get("total_evaluation_time_seconds")))
    engine = (data.get("config") or {}).get("toolprm_engine")
    if isinstance(engine, dict) and isinstance(engine.get("prompt_tokens"), int) and engine["prompt_tokens"] > 0:
        run.tokens = engine["prompt_tokens"]
        run.notes.append("tokens: prompt tokens counted by the scoring engine")
    return run


def _pool(run: Run, group: dict[str, Any] | None) -> None:
    """Whole-run metrics: the task's own for one subset; else lm-eval's group values where the
    group reports them, the rest recomputed from the samples with scorers.core."""
    if len(run.subsets) == 1:
        (only,) = run.subsets.values()
        run.pooled = dict(only.metrics)
        run.pooled_sources = dict.fromkeys(run.pooled, FRAMEWORK_METRIC)
        return
    for metric in METRICS:
        value = finite(group.get(f"{metric},none")) if group is not None else None
        if value is not None:
            run.pooled[metric] = value
            run.pooled_sources[metric] = "framework (lm-eval group)"
    if run.outcomes is not None:
        for metric, value in aggregate(run.outcomes).items():
            if metric not in run.pooled and finite(value) is not None:
                run.pooled[metric] = value
                run.pooled_sources[metric] = RECOMPUTED
    else:
        run.notes.append("log samples (--log_samples) for whole-run metrics lm-eval's group does not report "
                         "(error types, and consistency before task version 2-A)")


_METADATA_KEYS = ("order", "order_seed", "prompt", "norm")  # what users set with --metadata


def _command(data: dict[str, Any], args: dict[str, str], tasks: list[str], group: str | None, samples: bool) -> str:
    config = data.get("config") or {}
    meta = ((data.get("configs") or {}).get(tasks[0]) or {}).get("metadata") or {}
    metadata = {k: meta[k] for k in _METADATA_KEYS if k in meta}
    parts = ["lm_eval", "--model", str(config.get("model")), "--model_args", ",".join(f"{k}={v}" for k, v in args.items()),
             "--tasks", group or ",".join(tasks)]
    parts += ["--metadata", json.dumps(metadata)] if metadata else []
    parts += ["--limit", str(config["limit"])] if config.get("limit") is not None else []
    return " ".join(shlex.quote(p) for p in parts) + (" --log_samples" if samples else "") + " --output_path OUT"


def _flags(run: Run, data: dict[str, Any], tasks: list[str]) -> None:
    if (data.get("config") or {}).get("limit") is not None:
        run.flags.add("limit")
    for task in tasks:
        n = (data.get("n-samples") or {}).get(task) or {}
        if n and n.get("original") != n.get("effective"):
            run.flags.add("limit")
    if any(s.unpinned for s in run.subsets.values()):
        run.flags.add("unpinned")
    if any(s.sha256 is None for s in run.subsets.values()):
        run.flags.add("data-unknown")
    for result in run.subsets.values():
        if "truncated" in result.metrics and result.metrics["truncated"] > 0:
            run.flags.add("truncated")
    if run.backend not in NO_CONTEXT_LIMIT and any(
            "truncated,none" in data["results"][t] and finite(data["results"][t]["truncated,none"]) is None
            for t in tasks):
        run.flags.add("truncation-unknown")


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str:
    number = _float(value)
    if number is None:
        return ""
    return dt.datetime.fromtimestamp(number, tz=dt.timezone.utc).isoformat(timespec="seconds")
