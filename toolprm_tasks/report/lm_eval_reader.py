"""Read lm-eval output (`results_<time>.json`, and `samples_<task>_<time>.jsonl` when logged).

One results file can hold several ToolPRMBench runs (one per protocol variant and data set,
e.g. `--tasks toolprmbench_bfcl,toolprmbench_bfcl_pointwise`); each becomes a `Run`. Other
tasks in the file are named in the run's notes, never read.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorers.core import METRICS, TrialOutcome, aggregate
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.safe_text import one_line
from toolprm_tasks.core.trials import DEFAULT_PROMPT, DEFAULT_SEED, PROTOCOLS
from toolprm_tasks.core.versions import LM_EVAL_PACKAGE_VERSION_KEY as PACKAGE_VERSION_KEY
from toolprm_tasks.data import pins  # read at call time: a patched pin applies here too
from toolprm_tasks.data.jsonio import JSONFileError, read_json, read_jsonl
from toolprm_tasks.report import validate as v
from toolprm_tasks.report.compat import VersionError, canonical_version
from toolprm_tasks.report.redact import is_secret_name, redact, redact_args, redact_text
from toolprm_tasks.report.runs import (
    FRAMEWORK_METRIC,
    NO_CONTEXT_LIMIT,
    RECOMPUTED,
    ForeignInput,
    ReportError,
    Run,
    SubsetResult,
)

_TASK = re.compile(r"^toolprmbench(?:(?P<rebuilt>_rebuilt)(?P<hard>_hard)?)?_(?P<subset>" + "|".join(SUBSETS)
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


def _model_args(config: dict[str, Any], where: v.Where) -> dict[str, str]:
    """The run's model arguments, secrets hidden (report.redact): lm-eval writes them as its
    own `key=value,key=value` text or, when given as a dict, as an object."""
    raw = config.get("model_args")
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        args = {v.text(where, k, "config.model_args"): v.text(where, value, f"config.model_args.{k}", scalar=True)
                for k, value in raw.items() if value is not None}
    else:
        args = {}
        for part in v.text(where, raw, "config.model_args").split(","):  # lm-eval's own form
            if "=" in part:
                key, value = part.split("=", 1)
                args[key.strip()] = value.strip()
    return redact_args(args)


def other_args(args: dict[str, Any], name_keys: tuple[str, ...] = _NAME_ARGS) -> str:
    """The model arguments besides the one naming the model, as sorted `key=value` text."""
    return ",".join(f"{k}={redact(k, args[k])}" for k in sorted(args) if k not in name_keys)


def model_name(backend: str, args: dict[str, str], fallback: str) -> str:
    for key in _NAME_ARGS:
        if args.get(key):
            return Path(args[key].rstrip("/")).name or args[key]
    return fallback or backend


def samples_path(results_path: Path, task: str) -> Path:
    ts = _TIMESTAMP.match(results_path.name).group("ts")  # type: ignore[union-attr]
    return results_path.with_name(f"samples_{task}_{ts}.jsonl")


def _samples(results_path: Path, task: str) -> list[dict[str, Any]] | None:
    path = samples_path(results_path, task)
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
    seen: dict[Any, int] = {}
    for number, row in enumerate(values, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("acc"), dict) or not isinstance(row.get("doc"), dict):
            raise ReportError(f"{path}: record {number}: field 'acc' or 'doc' missing: not a ToolPRMBench sample")
        trial = row["doc"].get("trial_id")
        if isinstance(trial, str):  # a trial twice would count twice, and the one it replaced not at all
            if trial in seen:
                raise ReportError(f"{path}: record {number}: field 'doc.trial_id': {trial!r} is also record "
                                  f"{seen[trial]} (a trial logged twice)")
            seen[trial] = number
        rows.append(row)
    return rows


def _outcomes(rows: list[dict[str, Any]], path: Path) -> list[TrialOutcome]:
    """Each sample's outcome (its `acc` record), checked field by field."""
    return [v.outcome(v.Where(str(path), f"record {number}").at("acc"), row["acc"])
            for number, row in enumerate(rows, start=1)]


def _data_digest(rows: list[dict[str, Any]], path: Path, shown: str) -> str | None:
    digests = {v.digest(v.Where(str(path), f"record {number}"), row["doc"].get("data_sha256"), "doc.data_sha256")
               for number, row in enumerate(rows, start=1)}
    if len(digests) > 1:
        raise ReportError(f"{shown}: samples of one task carry different data digests {sorted(map(str, digests))}")
    return digests.pop() if digests else None


_SUBSET_METRICS = (*METRICS, "truncated")


def _subset(results_path: Path, task: str, metrics: dict[str, Any], n_samples: dict[str, Any],
            data_kind: str) -> tuple[SubsetResult, list[TrialOutcome] | None]:
    where = v.Where(str(results_path), f"task {task}")
    values = {m: v.fraction(where, metrics.get(f"{m},none"), f"results.{task}.{m},none") for m in _SUBSET_METRICS}
    acc = v.required_fraction(where, metrics.get("acc,none"), f"results.{task}.acc,none")
    trials = v.count(where, n_samples.get("effective", metrics.get("sample_len", 0)), f"n-samples.{task}.effective")
    unpinned = v.flag(where, metrics.get("data_unpinned,none"), f"results.{task}.data_unpinned,none")
    result = SubsetResult(acc=acc, trials=trials, se=values["acc_cluster_se"], unpinned=unpinned,
                          metrics={m: value for m, value in values.items() if value is not None})
    rows = _samples(results_path, task)
    outcomes = None
    if rows is not None:
        shown = f"{results_path.parent}/samples_{task}_*.jsonl"
        outcomes = _outcomes(rows, samples_path(results_path, task))
        recomputed = aggregate(outcomes)["acc"]
        if len(outcomes) != trials or not math.isclose(recomputed, acc, rel_tol=1e-9, abs_tol=1e-12):
            raise ReportError(f"{shown}: {len(outcomes)} samples with accuracy {recomputed} do not match "
                              f"{results_path.name} ({trials} samples, accuracy {acc}): samples of another run?")
        result.sha256 = _data_digest(rows, samples_path(results_path, task), shown)
    elif data_kind == "official" and result.unpinned is False:
        # the loader refuses a file that differs from a published pin unless told to (and then
        # says unpinned), so a pinned subset's digest is known without the samples
        result.sha256 = pins.PINNED_FILES[task_subset(task)].sha256
    return result, outcomes


def task_subset(task: str) -> str:
    return _TASK.match(task).group("subset")  # type: ignore[union-attr]


@dataclass
class _File:
    """A results file's parts, each checked for its type (validate) before anything reads it."""

    path: Path
    where: v.Where
    results: dict[str, Any]
    config: dict[str, Any]
    configs: dict[str, Any]
    versions: dict[str, Any]
    n_samples: dict[str, Any]
    groups: dict[str, Any]
    data: dict[str, Any]

    def task_results(self, task: str) -> dict[str, Any]:
        return v.mapping(self.where, self.results[task], f"results.{task}", required=True)

    def task_n_samples(self, task: str) -> dict[str, Any]:
        return v.mapping(self.where, self.n_samples.get(task), f"n-samples.{task}")


def _parts(path: Path, data: dict[str, Any]) -> _File:
    where = v.Where(str(path))
    return _File(path=path, where=where, results=data["results"], config=v.mapping(where, data.get("config"), "config"),
                 configs=v.mapping(where, data.get("configs"), "configs"),
                 versions=v.mapping(where, data.get("versions"), "versions"),
                 n_samples=v.mapping(where, data.get("n-samples"), "n-samples"),
                 groups=v.mapping(where, data.get("groups"), "groups"), data=data)


def read_results(path: Path) -> list[Run]:
    """Every ToolPRMBench run in one lm-eval results file."""
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or "configs" not in data:
        raise ReportError(f"{path}: not an lm-eval results file (no 'results' and 'configs')")
    ours = {task: m for task, m in data["results"].items() if _TASK.match(task)}
    if not ours:
        others = ", ".join(one_line(t, 100) for t in sorted(data["results"])) or "none"
        raise ForeignInput(f"{path}: no ToolPRMBench task in this lm-eval results file (tasks: {others})")
    file = _parts(path, data)
    backend = v.text(file.where, file.config.get("model"), "config.model", default="unknown") or "unknown"
    args = _model_args(file.config, file.where)
    families: dict[tuple[str, str, str], list[str]] = {}
    for task in ours:
        match = _TASK.match(task)
        kind = "rebuilt" if match.group("rebuilt") else "official"  # type: ignore[union-attr]
        tier = "hard" if match.group("hard") else "all"  # type: ignore[union-attr]
        families.setdefault((kind, tier, match.group("variant") or ""), []).append(task)  # type: ignore[union-attr]
    ignored = sorted(t for t in data["results"] if not _TASK.match(t) and t not in _group_names(families))
    runs = [_run(file, backend, args, family, tasks) for family, tasks in sorted(families.items())]
    for run in runs:
        if ignored:
            run.notes.append(f"other tasks in the file not read: {', '.join(ignored)}")
        if len(runs) > 1:
            run.notes.append(f"time and tokens cover {len(runs)} runs in one file: not attributed")
            run.seconds = run.tokens = None
    return runs


def _group_names(families: dict[tuple[str, str, str], list[str]]) -> set[str]:
    return {_group(*family) for family in families}


def _group(kind: str, tier: str, variant: str) -> str:
    """The lm-eval group over a family's subset tasks (`toolprmbench_rebuilt_hard_prm`, ...)."""
    return "toolprmbench" + ("_rebuilt" if kind == "rebuilt" else "") + ("_hard" if tier == "hard" else "") + variant


def _task_settings(file: _File, task: str) -> dict[str, Any]:
    cfg = file.configs.get(task)
    if not isinstance(cfg, dict):
        raise ReportError(f"{file.path}: task {task}: its 'configs' entry is missing")
    where = file.where.at(f"task {task}")
    kwargs = v.mapping(where, cfg.get("dataset_kwargs"), f"configs.{task}.dataset_kwargs")
    meta = v.mapping(where, cfg.get("metadata"), f"configs.{task}.metadata")
    try:
        version = canonical_version(file.versions.get(task, meta.get("version")))
    except VersionError as exc:
        raise ReportError(f"{file.path}: task {task}: {exc}") from None
    # task_protocol / task_norm from task version 7-A; protocol / norm before it
    protocol = v.choice(where, kwargs.get("task_protocol", kwargs.get("protocol", "generative")),
                        f"configs.{task}.dataset_kwargs.task_protocol", PROTOCOLS)
    norm = v.text(where, kwargs.get("task_norm", kwargs.get("norm", meta.get("norm", "char"))),
                  f"configs.{task}.dataset_kwargs.task_norm")
    label = protocol
    if protocol == "pointwise" and norm != "none":
        label = f"pointwise norm={norm}"
    prompt = v.text(where, meta.get("prompt"), f"configs.{task}.metadata.prompt", default="") or DEFAULT_PROMPT[protocol]
    return {"version": version, "protocol": label, "prompt": prompt,
            "order": v.text(where, meta.get("order"), f"configs.{task}.metadata.order", default="seeded"),
            "seed": v.integer(where, meta.get("order_seed"), f"configs.{task}.metadata.order_seed", default=DEFAULT_SEED),
            # recorded by our task classes (lm_eval_adapter/task_classes.py); absent in older results
            "package": v.text(where, meta.get(PACKAGE_VERSION_KEY), f"configs.{task}.metadata.{PACKAGE_VERSION_KEY}", default="")}


def _run(file: _File, backend: str, args: dict[str, str], family: tuple[str, str, str], tasks: list[str]) -> Run:
    kind, tier, variant = family
    path, where = file.path, file.where
    settings = {task: _task_settings(file, task) for task in tasks}
    distinct = {json.dumps(s, sort_keys=True) for s in settings.values()}
    if len(distinct) > 1:
        raise ReportError(f"{path}: tasks {', '.join(tasks)} ran with different settings: {sorted(distinct)}")
    first = settings[tasks[0]]
    subsets: dict[str, SubsetResult] = {}
    all_outcomes: list[TrialOutcome] = []
    have_samples = True
    for task in sorted(tasks, key=lambda t: SUBSETS.index(task_subset(t))):
        result, outcomes = _subset(path, task, file.task_results(task), file.task_n_samples(task), kind)
        subsets[task_subset(task)] = result
        if outcomes is None:
            have_samples = False
        else:
            all_outcomes.extend(outcomes)
    name_key = next((k for k in _NAME_ARGS if args.get(k)), None)
    fallback = v.text(where, file.data.get("model_name"), "model_name", default="")
    run = Run(path=str(path), framework="lm-eval", model=model_name(backend, args, fallback),
              backend=backend, model_args=other_args(args, (name_key,) if name_key else ()), protocol=first["protocol"],
              prompt=first["prompt"], order=first["order"],
              seed=first["seed"], data_kind=kind, task_version=first["version"], subsets=subsets,
              outcomes=all_outcomes if have_samples else None,
              started=v.epoch_date(where, file.data.get("date"), "date"), tier=tier)
    name = _group(kind, tier, variant)
    group = file.groups.get(name) or file.results.get(name)
    group = v.mapping(where, group, f"groups.{name}") if group is not None else None
    if group is not None:
        run.avg = v.fraction(where, group.get("acc,none"), f"groups.{name}.acc,none")
    _pool(run, group, where.at(f"group {name}"))
    _flags(run, file, tasks)
    run.command = _command(file, args, tasks, name if group is not None else None, samples=run.outcomes is not None)
    run.seconds = v.seconds(where, file.data.get("total_evaluation_time_seconds"), "total_evaluation_time_seconds")
    made_with = v.text(where, file.data.get("lm_eval_version"), "lm_eval_version", default="")
    run.made_with = {"lm-eval": made_with} if made_with else {}
    if first["package"]:  # one lm_eval process, one install: its tasks agree (checked above)
        run.made_with["toolprm-tasks"] = first["package"]
    engine = v.mapping(where, file.config.get("toolprm_engine"), "config.toolprm_engine")
    if engine.get("prompt_tokens") is not None:
        tokens = v.count(where, engine["prompt_tokens"], "config.toolprm_engine.prompt_tokens", maximum=v.MAX_TOKENS)
        if tokens > 0:
            run.tokens = tokens
            run.notes.append("tokens: prompt tokens counted by the scoring engine")
    return run


def _pool(run: Run, group: dict[str, Any] | None, where: v.Where) -> None:
    """Whole-run metrics: the task's own for one subset; else lm-eval's group values where the
    group reports them, the rest recomputed from the samples with scorers.core."""
    if len(run.subsets) == 1:
        (only,) = run.subsets.values()
        run.pooled = dict(only.metrics)
        run.pooled_sources = dict.fromkeys(run.pooled, FRAMEWORK_METRIC)
        return
    for metric in METRICS:
        value = v.fraction(where, group.get(f"{metric},none"), f"{metric},none") if group is not None else None
        if value is not None:
            run.pooled[metric] = value
            run.pooled_sources[metric] = "framework (lm-eval group)"
    if run.outcomes is not None:
        for metric, value in aggregate(run.outcomes).items():
            if metric not in run.pooled and not math.isnan(value):
                run.pooled[metric] = value
                run.pooled_sources[metric] = RECOMPUTED
    else:
        run.notes.append("log samples (--log_samples) for whole-run metrics lm-eval's group does not report "
                         "(error types, and consistency before task version 2-A)")


_METADATA_KEYS = ("order", "order_seed", "prompt", "norm")  # what users set with --metadata


def _limit(file: _File) -> Any:
    """lm-eval's --limit: a count, or a share of each task (below 1); None when not given."""
    value = file.config.get("limit")
    if value is not None:
        v.number(file.where, value, "config.limit", 0.0, v.MAX_COUNT)
    return value


def _command(file: _File, args: dict[str, str], tasks: list[str], group: str | None, samples: bool) -> str:
    meta = v.mapping(file.where, file.configs[tasks[0]].get("metadata"), f"configs.{tasks[0]}.metadata")
    metadata = {k: meta[k] for k in _METADATA_KEYS if k in meta}
    parts = ["lm_eval", "--model", str(file.config.get("model")), "--model_args",
             ",".join(f"{k}={value}" for k, value in args.items()), "--tasks", group or ",".join(tasks)]
    parts += ["--metadata", json.dumps(metadata)] if metadata else []
    limit = _limit(file)
    parts += ["--limit", str(limit)] if limit is not None else []
    parts += _settings_flags(file)
    return " ".join(shlex.quote(p) for p in parts) + (" --log_samples" if samples else "") + " --output_path OUT"


def _settings_flags(file: _File) -> list[str]:
    """The command-line options lm-eval records that change what the model sees or writes: a
    chat template, a system instruction, generation settings and the device (a documentation
    probe: a run made with `--apply_chat_template --gen_kwargs max_gen_toks=32` was reproduced
    without them)."""
    flags: list[str] = []
    if file.data.get("chat_template_sha") or file.data.get("chat_template"):
        flags.append("--apply_chat_template")
    system = file.data.get("system_instruction")
    if isinstance(system, str) and system:
        flags += ["--system_instruction", redact_text(system)]
    generation = file.config.get("gen_kwargs")
    if isinstance(generation, str) and generation:  # as given on the command line (lm-eval records a dict)
        flags += ["--gen_kwargs", redact_text(generation)]
    elif isinstance(generation, dict) and generation:
        # as JSON, which lm-eval reads back whole (key=value text loses nested values, commas, types)
        flags += ["--gen_kwargs", json.dumps({key: (redact(str(key), value) if is_secret_name(str(key)) else value)
                                              for key, value in generation.items()}, default=str)]
    device = file.config.get("device")
    if isinstance(device, str) and device and device != LM_EVAL_DEFAULT_DEVICE:
        flags += ["--device", device]
    return flags


# what lm-eval 0.4.13 records without `--device` (its EvaluatorConfig's default): left out
LM_EVAL_DEFAULT_DEVICE = "cuda:0"


def _flags(run: Run, file: _File, tasks: list[str]) -> None:
    if _limit(file) is not None:
        run.flags.add("limit")
    for task in tasks:
        n = file.task_n_samples(task)
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
            "truncated,none" in file.task_results(t) and "truncated" not in run.subsets[task_subset(t)].metrics
            for t in tasks):
        run.flags.add("truncation-unknown")
