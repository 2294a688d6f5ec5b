"""`toolprmbench build`: ToolPRMBench-style cases from executable sources, reproducibly.

Same sources, seed and package versions give byte-identical files. Output folder:
- `prmbench_rebuilt_<source>.json`: cases in the release format, with provenance;
- `check_failures_<source>.json`: points whose every proposal failed the execution check
  (reported with the reasons, never silently dropped);
- `manifest_<source>.json`: counts by error type, sampling method and operator, execution-check
  results, the artifact audit of the built set (`toolprm_tasks.audit`: history-free probes and
  the baseline judges; per sampling method too where methods are mixed), and the sha256 of
  every file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
import logging
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.core.baselines import JUDGES
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.rebuild.judging import panel_votes, verdict
from toolprm_tasks.rebuild.models import ModelCaller, describe
from toolprm_tasks.rebuild.operators import iter_proposals
from toolprm_tasks.rebuild.points import DecisionPoint
from toolprm_tasks.rebuild.policy import INVALID, equivalent, error_type_of, proposal_prompt, read_answer

logger = logging.getLogger(__name__)

BUILD_VERSION = 5  # bump when the operators or the point selection change the output
# The modules whose code decides the bytes of a build (cases and manifest): their digest names the
# default cache folder, so a change that forgets the bump above still never reuses a stale build.
_CODE_MODULES = ("rebuild", "trials.py", "tool_calls.py", "render.py", "model_text.py", "jsonio.py",
                 "audit.py", "baselines.py", "model_check.py")
SOURCES = ("bfcl", "tooltalk", "gta")
MAX_PROPOSALS = 16  # proposals tried per point before it is reported as failing the check


def code_fingerprint() -> str:
    """sha256 (12 hex digits) of the source of the modules that write a build."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in _CODE_MODULES:
        target = package / name
        for path in sorted(target.glob("*.py")) if target.is_dir() else [target]:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@dataclass
class BuildResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)  # mixed judge votes
    dropped: list[dict[str, Any]] = field(default_factory=list)  # unanimous no
    discarded_equivalent: int = 0  # model proposals equivalent to the gold step
    models: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourcePoint:
    point: DecisionPoint
    check: Callable[[Any], tuple[bool, str]] | None  # execution check, where an environment exists
    extra: dict[str, Any]  # source-specific provenance (test_category, difficulty, task)
    error_type: str | None = None  # the type selection asks for (rule sampling tries it first)


@dataclass
class Models:
    """The model-driven steps' models (Inspect model names or Model objects), all optional."""

    policy: Any = None
    annotator: Any = None
    judges: tuple[Any, ...] = ()
    sampling: tuple[str, ...] = ("rule",)  # any of rule, policy, online
    max_tokens: int = 1024
    audit_model: str | None = None  # a local model folder: the manifest's audit gains its real-model column


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _record(point: DecisionPoint, rejected: Any, error_type: str, sampling: str, seed: int, source_version: str,
            check: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "history": point.history,
        "action_chosen": point.gold,
        "action_rejected": rejected,
        "functions": point.functions,
        "error type": error_type,
        "sample_id": f"{point.source}/{point.source_id}",
        "source": point.source,
        "source_id": point.source_id,
        "source_version": source_version,
        "step_index": point.step,
        "sampling": sampling,
        "seed": seed,
        "execution_check": check,
        **extra,
    }


_NOT_APPLICABLE = {"applicable": False, "reason": "no executable environment (recorded observations)"}


def _run_check(check: Callable[[Any], tuple[bool, str]] | None, action: Any, tried: int) -> tuple[bool, dict[str, Any]]:
    if check is None:
        return True, dict(_NOT_APPLICABLE)
    passed, reason = check(action)
    return passed, {"applicable": True, "passed": passed, "reason": reason, "tried": tried}


def _case_key(point: DecisionPoint, rejected: Any) -> str:
    """What makes two cases the same case: history, chosen and rejected action."""
    text = json.dumps([point.history, point.gold, rejected], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rule_cases(points: list[SourcePoint], seed: int, version: str, result: BuildResult) -> None:
    # variants of one BFCL entry can share a point's history: a case made twice is made once
    made: set[str] = set()
    for item in points:
        rng = random.Random(seeded_key(seed, f"{item.point.source}/{item.point.source_id}/{item.point.step}"))
        reasons: list[str] = []
        proposals = itertools.islice(iter_proposals(item.point, rng, item.error_type), MAX_PROPOSALS)
        for tried, proposal in enumerate(proposals, start=1):
            if proposal.action == item.point.gold:
                continue
            key = _case_key(item.point, proposal.action)
            if key in made:
                reasons.append(f"{proposal.operator}: the same case as an earlier one")
                continue
            passed, info = _run_check(item.check, proposal.action, tried)
            if passed:
                made.add(key)
                extra = {**item.extra, "reply_kind": item.point.reply_kind} if item.point.reply_kind else item.extra
                result.records.append(_record(item.point, proposal.action, proposal.error_type,
                                              f"rule:{proposal.operator}", seed, version, info, extra))
                break
            reasons.append(f"{proposal.operator}: {info['reason']}")
        else:
            result.failures.append({"source_id": item.point.source_id, "step_index": item.point.step,
                                    "sampling": "rule", "reasons": reasons or ["no operator applies"]})


def _policy_cases(points: list[SourcePoint], policy: ModelCaller, seed: int, version: str,
                  result: BuildResult) -> None:
    answers = policy.generate_all([proposal_prompt(item.point) for item in points])
    for item, answer in zip(points, answers, strict=True):
        action = read_answer(answer)
        if action.kind == INVALID:  # counted with its reason, never a case
            result.failures.append({"source_id": item.point.source_id, "step_index": item.point.step,
                                    "sampling": "policy", "reasons": [f"policy answer is no action: {action.why}"]})
            continue
        rejected = action.value
        if equivalent(item.point.gold, rejected, item.point.functions):
            result.discarded_equivalent += 1
            continue
        passed, info = _run_check(item.check, rejected, 1)
        if not passed:
            result.failures.append({"source_id": item.point.source_id, "step_index": item.point.step,
                                    "sampling": "policy", "reasons": [info["reason"]]})
            continue
        result.records.append(_record(item.point, rejected, error_type_of(item.point.gold, rejected),
                                      f"policy:{policy.name}", seed, version, info, item.extra))


def _online_cases(conversations: list[Any], policy: ModelCaller, annotator: ModelCaller, seed: int, version: str,
                  result: BuildResult) -> None:
    from toolprm_tasks.rebuild.bfcl_points import execution_check
    from toolprm_tasks.rebuild.online import annotated_points, rollouts

    runs = rollouts(conversations, policy)
    failed = [run for run in runs if not run.succeeded]
    result.models["online"] = {"rollouts": len(runs), "failed_rollouts": len(failed)}
    for run, point, rejected, problem in annotated_points(failed, annotator):
        if point is None:
            result.failures.append({"source_id": run.conversation.id, "sampling": "online", "reasons": [problem]})
            continue
        if isinstance(rejected, str) and not rejected.strip():
            result.failures.append({"source_id": run.conversation.id, "step_index": point.step, "sampling": "online",
                                    "reasons": ["policy step is an empty reply: no action"]})
            continue
        if equivalent(point.gold, rejected, point.functions):
            result.discarded_equivalent += 1
            continue
        outcome = execution_check(run.conversation, point, rejected)
        info = {"applicable": True, "passed": outcome.passed, "reason": outcome.reason, "tried": 1}
        if not outcome.passed:
            result.failures.append({"source_id": run.conversation.id, "step_index": point.step,
                                    "sampling": "online", "reasons": [outcome.reason]})
            continue
        result.records.append(_record(point, rejected, error_type_of(point.gold, rejected),
                                      f"online:{policy.name}+{annotator.name}", seed, version, info,
                                      _bfcl_extra(run.conversation)))


def _judge(result: BuildResult, judges: list[ModelCaller]) -> None:
    votes = panel_votes(result.records, judges)
    kept = []
    for record, record_votes in zip(result.records, votes, strict=True):
        record["judge_votes"] = record_votes
        {"keep": kept, "drop": result.dropped, "review": result.review}[verdict(record_votes)].append(record)
    result.records = kept


def _bfcl_extra(conversation: Any) -> dict[str, Any]:
    """The source's own rules, as it defines them (the case's functions already apply them)."""
    return {"test_category": f"multi_turn_{conversation.category}", "involved_classes": conversation.involved_classes,
            "excluded_function": conversation.excluded_function, "missed_function": conversation.missed_function}


def bfcl_points(seed: int, limit: int | None = None) -> tuple[list[SourcePoint], list[Any], str]:
    from toolprm_tasks.envs.bfcl import load_conversations
    from toolprm_tasks.rebuild.bfcl_points import execution_check, select, task_of

    conversations = load_conversations(limit=limit)
    points = []
    for conversation, point, error_type in select(conversations, seed):

        def check(action: Any, conversation=conversation, point=point) -> tuple[bool, str]:
            outcome = execution_check(conversation, point, action)
            return outcome.passed, outcome.reason

        points.append(SourcePoint(point, check, {**_bfcl_extra(conversation), "task": task_of(conversation)},
                                  error_type))
    return points, conversations, f"bfcl-eval=={_package_version('bfcl-eval')}"


def tooltalk_points(seed: int, limit: int | None = None) -> tuple[list[SourcePoint], list[Any], str]:
    from toolprm_tasks.rebuild.tooltalk import api_specs, load_conversations, select

    specs = api_specs()
    points = [SourcePoint(point, None, {"difficulty": conversation.split}, error_type)
              for conversation, point, error_type in select(load_conversations(limit=limit), specs, seed)]
    return points, [], f"nvidia-tooltalk=={_package_version('nvidia-tooltalk')}"


def gta_points(seed: int, dataset: Path | None, limit: int | None = None) -> tuple[list[SourcePoint], list[Any], str]:
    from toolprm_tasks.rebuild.gta import decision_points, load_queries, pick_point

    if dataset is None:
        raise ValueError("GTA is not on PyPI: pass the path of your copy of its dataset.json (--gta-dataset)")
    toolmeta_path = dataset.parent / "toolmeta.json"
    toolmeta = json.loads(toolmeta_path.read_text(encoding="utf-8")) if toolmeta_path.is_file() else None
    points = []
    for query in load_queries(dataset)[:limit]:
        rng = random.Random(seeded_key(seed, f"gta/{query.id}"))
        point = pick_point(decision_points(query, toolmeta), rng)
        if point is not None:
            points.append(SourcePoint(point, None, {"task": query.id}))
    return points, [], "gta:" + hashlib.sha256(dataset.read_bytes()).hexdigest()[:16]


def build_source(source: str, points: list[SourcePoint], conversations: list[Any], version: str, seed: int,
                 models: Models, calls_dir: Path) -> BuildResult:
    """Rule-based, policy and online cases for one source, then the judges' filter."""
    result = BuildResult()
    caller = lambda role, model: ModelCaller(role, model, calls_dir, models.max_tokens)  # noqa: E731
    policy = caller("policy", models.policy) if models.policy is not None else None
    annotator = caller("annotator", models.annotator) if models.annotator is not None else None
    if "rule" in models.sampling:
        _rule_cases(points, seed, version, result)
    if "policy" in models.sampling:
        if policy is None:
            raise ValueError("policy sampling needs --policy MODEL")
        _policy_cases(points, policy, seed, version, result)
    if "online" in models.sampling:
        if source != "bfcl":
            raise ValueError("online sampling needs an executable environment: only --source bfcl")
        if policy is None or annotator is None:
            raise ValueError("online sampling needs --policy MODEL and --annotator MODEL")
        _online_cases(conversations, policy, annotator, seed, version, result)
    judges = [caller(f"judge{i}", judge) for i, judge in enumerate(models.judges)]
    if judges:
        _judge(result, judges)
    # names only: call counts depend on the cache, and the manifest must not
    result.models.update({"policy": policy and policy.name, "annotator": annotator and annotator.name,
                          "judges": [j.name for j in judges]})
    for role in (policy, annotator, *judges):
        if role is not None:
            logger.info("toolprm-tasks build %s: %s", role.role, describe(role))
    return result


def _audits(records: list[dict[str, Any]], source: str, model: str | None = None) -> dict[str, Any]:
    """The artifact audit of the built cases (`toolprm_tasks.audit`), and of each sampling
    method's cases where a build mixes them (policy and online cases get their own verdict);
    with `model`, the audit's real-model column (model_check: a seeded subset, minutes on a CPU)."""
    from toolprm_tasks.audit import audit_records

    name = f"prmbench_rebuilt_{source}.json"
    out: dict[str, Any] = {"audit": audit_records(records, source, source=name)}
    if model is not None:
        from toolprm_tasks.model_check import add_model_column

        add_model_column(out, {"audit": (source, name, records)}, model)
    methods = sorted({r["sampling"].split(":")[0] for r in records})
    if len(methods) > 1:
        out["audit_by_sampling"] = {m: audit_records([r for r in records if r["sampling"].split(":")[0] == m], source,
                                                     source=f"prmbench_rebuilt_{source}.json ({m})")
                                    for m in methods}
    return out


def _dump(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def write_build(source: str, result: BuildResult, out: Path, seed: int, audit_model: str | None = None) -> dict[str, Any]:
    """Write the cases, the failures and the manifest atomically (a temp folder, then renames)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {f"prmbench_rebuilt_{source}.json": _dump(result.records),
             f"check_failures_{source}.json": _dump(result.failures)}
    if result.review or result.dropped:
        files[f"review_{source}.json"] = _dump(result.review)
        files[f"dropped_{source}.json"] = _dump(result.dropped)
    checks = Counter("not applicable" if not r["execution_check"].get("applicable") else "passed"
                     for r in result.records)
    manifest = {
        "source": source,
        "build_version": BUILD_VERSION,
        "code": code_fingerprint(),
        "seed": seed,
        "source_version": result.records[0]["source_version"] if result.records else None,
        "cases": len(result.records),
        "by_error_type": dict(sorted(Counter(r["error type"] for r in result.records).items())),
        "by_sampling": dict(sorted(Counter(r["sampling"].split(":")[0] for r in result.records).items())),
        "by_operator": dict(sorted(Counter(r["sampling"].split(":")[1] for r in result.records
                                           if r["sampling"].startswith("rule:")).items())),
        "model_proposals_equivalent_to_gold": result.discarded_equivalent,
        "judges": {"kept": len(result.records), "review": len(result.review), "dropped": len(result.dropped)}
        if result.review or result.dropped or any("judge_votes" in r for r in result.records) else None,
        "models": result.models,
        "execution_check": {**dict(sorted(checks.items())), "failed_points": len(result.failures)},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    audits = _audits(result.records, source, audit_model) if result.records else {}
    judges = audits.get("audit", {}).get("judges", {})
    manifest["baseline_accuracy_both_orders"] = {j: r["overall"]["acc"] for j, r in judges.items() if j in JUDGES}
    # the generators are built to pass the audit as they are: nothing is filtered adversarially
    manifest["adversarial_filtering"] = {"applied": False, "dropped": 0}
    manifest.update(audits)
    manifest["fingerprint"] = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()
    files[f"manifest_{source}.json"] = _dump(manifest)
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        for name in files:
            os.replace(Path(tmp) / name, out / name)
    return manifest


def build(sources: Iterable[str], out: Path, seed: int = 0, gta_dataset: Path | None = None,
          models: Models | None = None, limit: int | None = None) -> dict[str, dict[str, Any]]:
    """Build each source's cases into `out` (see the module docstring). Model calls are cached
    under `out/.calls/<source>/`, so a rerun after an interruption redoes no finished call."""
    models = models or Models()
    collectors: dict[str, Callable[[], tuple[list[SourcePoint], list[Any], str]]] = {
        "bfcl": lambda: bfcl_points(seed, limit), "tooltalk": lambda: tooltalk_points(seed, limit),
        "gta": lambda: gta_points(seed, gta_dataset, limit),
    }
    manifests = {}
    for source in sources:
        if source not in collectors:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(collectors)}")
        points, conversations, version = collectors[source]()
        result = build_source(source, points, conversations, version, seed, models, out / ".calls" / source)
        manifests[source] = write_build(source, result, out, seed, models.audit_model)
    return manifests
