"""`toolprmbench build`: ToolPRMBench-style cases from executable sources, reproducibly.

Same sources, seed and package versions give byte-identical files. Output folder:
- `prmbench_rebuilt_<source>.json`: cases in the release format, with provenance;
- `check_failures_<source>.json`: points whose every proposal failed the execution check
  (reported with the reasons, never silently dropped);
- `manifest.json`: counts by error type and sampling method, execution-check results, the
  baseline judges' accuracy on the built set, and the sha256 of every file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.rebuild.operators import Proposal, proposals_for
from toolprm_tasks.rebuild.points import DecisionPoint
from toolprm_tasks.trials import seeded_key

BUILD_VERSION = 1  # bump when the operators or the point selection change the output
SOURCES = ("bfcl", "tooltalk", "gta")
MAX_PROPOSALS = 16  # proposals tried per point before it is reported as failing the check


@dataclass
class BuildResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _record(point: DecisionPoint, proposal: Proposal, seed: int, source_version: str,
            check: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "history": point.history,
        "action_chosen": point.gold,
        "action_rejected": proposal.action,
        "functions": point.functions,
        "error type": proposal.error_type,
        "sample_id": f"{point.source}/{point.source_id}",
        "source": point.source,
        "source_id": point.source_id,
        "source_version": source_version,
        "step_index": point.step,
        "sampling": f"rule:{proposal.operator}",
        "seed": seed,
        "execution_check": check,
        **extra,
    }


def _take_first_passing(point: DecisionPoint, rng: random.Random,
                        check: Callable[[Any], tuple[bool, str]] | None) -> tuple[Proposal | None, dict[str, Any], list[str]]:
    reasons: list[str] = []
    for proposal in proposals_for(point, rng)[:MAX_PROPOSALS]:
        if proposal.action == point.gold:
            continue
        if check is None:
            return proposal, {"applicable": False, "reason": "no executable environment (recorded observations)"}, reasons
        passed, reason = check(proposal.action)
        if passed:
            return proposal, {"applicable": True, "passed": True, "reason": reason, "tried": len(reasons) + 1}, reasons
        reasons.append(f"{proposal.operator}: {reason}")
    return None, {}, reasons


def build_bfcl(seed: int) -> BuildResult:
    from toolprm_tasks.rebuild.bfcl import load_conversations
    from toolprm_tasks.rebuild.bfcl_cases import decision_points, execution_check, pick_point

    version = f"bfcl-eval=={_package_version('bfcl-eval')}"
    result = BuildResult()
    for conversation in load_conversations():
        rng = random.Random(seeded_key(seed, f"bfcl/{conversation.id}"))
        point = pick_point(conversation, decision_points(conversation), rng)

        def check(action: Any, conversation=conversation, point=point) -> tuple[bool, str]:
            outcome = execution_check(conversation, point, action)
            return outcome.passed, outcome.reason

        proposal, check_info, reasons = _take_first_passing(point, rng, check)
        if proposal is None:
            result.failures.append({"source_id": conversation.id, "step_index": point.step, "reasons": reasons})
            continue
        result.records.append(_record(point, proposal, seed, version, check_info,
                                      {"test_category": f"multi_turn_{conversation.category}"}))
    return result


def build_tooltalk(seed: int) -> BuildResult:
    from toolprm_tasks.rebuild.tooltalk import api_specs, decision_points, load_conversations, pick_points

    version = f"nvidia-tooltalk=={_package_version('nvidia-tooltalk')}"
    specs = api_specs()
    result = BuildResult()
    for conversation in load_conversations():
        rng = random.Random(seeded_key(seed, f"tooltalk/{conversation.id}"))
        for point in pick_points(decision_points(conversation, specs), rng):
            proposal, check_info, reasons = _take_first_passing(point, rng, None)
            if proposal is None:
                result.failures.append({"source_id": conversation.id, "step_index": point.step,
                                        "reasons": reasons or ["no operator applies"]})
                continue
            result.records.append(_record(point, proposal, seed, version, check_info,
                                          {"difficulty": conversation.split}))
    return result


def build_gta(seed: int, dataset: Path | None = None) -> BuildResult:
    from toolprm_tasks.rebuild.gta import decision_points, load_queries, pick_point

    if dataset is None:
        raise ValueError("GTA is not on PyPI: pass the path of your copy of its dataset.json (--gta-dataset)")
    toolmeta_path = dataset.parent / "toolmeta.json"
    toolmeta = json.loads(toolmeta_path.read_text(encoding="utf-8")) if toolmeta_path.is_file() else None
    version = "gta:" + hashlib.sha256(dataset.read_bytes()).hexdigest()[:16]
    result = BuildResult()
    for query in load_queries(dataset):
        rng = random.Random(seeded_key(seed, f"gta/{query.id}"))
        point = pick_point(decision_points(query, toolmeta), rng)
        if point is None:
            result.failures.append({"source_id": query.id, "reasons": ["no tool call and no final answer"]})
            continue
        proposal, check_info, reasons = _take_first_passing(point, rng, None)
        if proposal is None:
            result.failures.append({"source_id": query.id, "step_index": point.step,
                                    "reasons": reasons or ["no operator applies"]})
            continue
        result.records.append(_record(point, proposal, seed, version, check_info, {"task": query.id}))
    return result


def _baseline_accuracy(records: list[dict[str, Any]], subset: str) -> dict[str, float]:
    """Each baseline judge's accuracy on the built cases, both orders (the difficulty audit)."""
    from scorers.core import aggregate, outcome
    from toolprm_tasks.baselines import JUDGES, generative_pick
    from toolprm_tasks.cases import cases_from_records
    from toolprm_tasks.trials import build_trials

    trials = build_trials(cases_from_records(records, subset=subset, source="built"), order="both")
    accuracy = {}
    for judge in JUDGES:
        outcomes = []
        for trial in trials:
            pick = generative_pick(judge, trial.judge_view())
            outcomes.append(outcome(trial.metadata(), 1.0 if pick == 1 else 0.0))
        accuracy[judge] = round(aggregate(outcomes)["acc"], 4)
    return accuracy


def _dump(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def write_build(source: str, result: BuildResult, out: Path, seed: int) -> dict[str, Any]:
    """Write the cases, the failures and the manifest atomically (a temp folder, then renames)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {f"prmbench_rebuilt_{source}.json": _dump(result.records),
             f"check_failures_{source}.json": _dump(result.failures)}
    checks = Counter("not applicable" if not r["execution_check"].get("applicable") else "passed"
                     for r in result.records)
    manifest = {
        "source": source,
        "build_version": BUILD_VERSION,
        "seed": seed,
        "source_version": result.records[0]["source_version"] if result.records else None,
        "cases": len(result.records),
        "by_error_type": dict(sorted(Counter(r["error type"] for r in result.records).items())),
        "by_sampling": dict(sorted(Counter(r["sampling"].split(":")[1].split(":")[0] for r in result.records).items())),
        "execution_check": {**dict(sorted(checks.items())), "failed_points": len(result.failures)},
        "baseline_accuracy_both_orders": _baseline_accuracy(result.records, source) if result.records else {},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    manifest["fingerprint"] = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()
    files[f"manifest_{source}.json"] = _dump(manifest)
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        for name in files:
            os.replace(Path(tmp) / name, out / name)
    return manifest


def build(sources: Iterable[str], out: Path, seed: int = 0, gta_dataset: Path | None = None) -> dict[str, dict[str, Any]]:
    """Build each source's cases into `out` (see the module docstring)."""
    builders: dict[str, Callable[[], BuildResult]] = {
        "bfcl": lambda: build_bfcl(seed), "tooltalk": lambda: build_tooltalk(seed),
        "gta": lambda: build_gta(seed, gta_dataset),
    }
    manifests = {}
    for source in sources:
        if source not in builders:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(builders)}")
        manifests[source] = write_build(source, builders[source](), out, seed)
    return manifests
