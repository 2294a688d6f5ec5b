"""`toolprmbench build`: ToolPRMBench-style cases from executable sources, reproducibly.

Same sources, seed and package versions give byte-identical files. Each source's
conversation clusters are split by a seeded rule (`split.py`): about a quarter to `train`,
the rest to `test`. Output folder:
- `prmbench_rebuilt_<source>.json`: the test split's cases in the release format, with
  provenance and the `difficulty` field (`difficulty.py`): what every rebuilt task runs;
- `prmbench_rebuilt_<source>_train.json`: the training split's cases (same format; more
  decision points per conversation);
- `check_failures_<source>.json`: slots whose every option failed the execution check
  (reported with the reasons and the split, never silently dropped);
- `manifest_<source>.json`: counts by error type, sampling method, operator, relation and
  tier, execution-check results, the splits (clusters and case counts), the artifact audit of
  the test cases (`toolprm_tasks.audit`: history-free probes and the baseline judges; per
  sampling method where methods are mixed, and of the hard tier), and the sha256 of every file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.core.baselines import JUDGES
from toolprm_tasks.core.files import partial_folder, remove_stale_partials
from toolprm_tasks.core.grounding import HistoryText
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.core.versions import package_versions
from toolprm_tasks.rebuild.balance import choose, grounded_side
from toolprm_tasks.rebuild.difficulty import RELATIONS, difficulty, tier_of
from toolprm_tasks.rebuild.errors import SourceError
from toolprm_tasks.rebuild.judging import panel_votes, verdict
from toolprm_tasks.rebuild.models import ModelCaller, call_notes, describe
from toolprm_tasks.rebuild.operators import GROUNDED_SIDES, LENGTH_SIDES, iter_proposals
from toolprm_tasks.rebuild.points import DecisionPoint, equivalent
from toolprm_tasks.rebuild.policy import INVALID, error_type_of, proposal_prompt, read_answer
from toolprm_tasks.rebuild.split import SPLITS, assign

logger = logging.getLogger(__name__)

BUILD_VERSION = 12  # bump when the operators or the point selection change the output
# The modules whose code decides the bytes of a build (cases and manifest): their digest names the
# default cache folder, so a change that forgets the bump above still never reuses a stale build.
# paths from the folder that holds toolprm_tasks/ and scorers/ (a checkout or site-packages)
_CODE_MODULES = ("toolprm_tasks/rebuild", "toolprm_tasks/envs", "toolprm_tasks/core/trials.py",
                 "toolprm_tasks/core/tool_calls.py", "toolprm_tasks/core/render.py", "scorers/answers.py",
                 "toolprm_tasks/data/jsonio.py", "toolprm_tasks/audit.py", "toolprm_tasks/core/baselines.py",
                 "toolprm_tasks/core/grounding.py", "toolprm_tasks/model_check.py")
SOURCES = ("bfcl", "tooltalk", "gta")
PARTIAL_PREFIX = ".build-"  # + "<pid>-<random>": the files of a build being written (or of a killed one)
MAX_PROPOSALS = 16  # proposals tried per option of a slot
MAX_OPTIONS = 8  # options (points and types) tried per slot before it is reported as failing the check
CANDIDATES = 4  # cases of a slot's own label collected for the balancing choice
PER_POINT = 2  # ... at most this many from one point


def code_fingerprint() -> str:
    """sha256 (12 hex digits) of the source of the modules that write a build."""
    top = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for name in _CODE_MODULES:
        target = top / name
        for path in sorted(target.glob("*.py")) if target.is_dir() else [target]:
            digest.update(path.relative_to(top).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
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
    """One case to make: its options (a decision point and the error type asked of it, the
    first preferred, the others fallbacks), the execution check and provenance."""

    options: tuple[tuple[DecisionPoint, str | None], ...]
    check: Callable[[DecisionPoint, Any], tuple[bool, str]] | None  # where an environment exists
    extra: dict[str, Any]  # source-specific provenance (test_category, task, ...)
    split: str = "test"

    @property
    def point(self) -> DecisionPoint:
        return self.options[0][0]


@dataclass
class Models:
    """The model-driven steps' models (Inspect model names or Model objects), all optional."""

    policy: Any = None
    annotator: Any = None
    judges: tuple[Any, ...] = ()
    sampling: tuple[str, ...] = ("rule",)  # any of rule, policy, online
    max_tokens: int = 1024
    audit_model: str | None = None  # a local model folder: the manifest's audit gains its real-model column


def _record(point: DecisionPoint, rejected: Any, error_type: str, sampling: str, seed: int, source_version: str,
            check: dict[str, Any], extra: dict[str, Any], how: dict[str, str]) -> dict[str, Any]:
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
        "difficulty": how,
        **extra,
    }


_NOT_APPLICABLE = {"applicable": False, "reason": "no executable environment (recorded observations)"}


def _run_check(check: Callable[[DecisionPoint, Any], tuple[bool, str]] | None, point: DecisionPoint, action: Any,
               tried: int) -> tuple[bool, dict[str, Any]]:
    if check is None:
        return True, dict(_NOT_APPLICABLE)
    passed, reason = check(point, action)
    return passed, {"applicable": True, "passed": passed, "reason": reason, "tried": tried}


ERRORS = "rejected call errors"  # the execution check's reason when the environment refuses the call


def _case_key(point: DecisionPoint, rejected: Any) -> str:
    """What makes two cases the same case: history, chosen and rejected action."""
    text = json.dumps([point.history, point.gold, rejected], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _proposals(point: DecisionPoint, error_type: str | None, seed: int) -> list[Any]:
    """A point's proposals of its option's error type, by the operators' priority (then their
    seeded order)."""
    rng = random.Random(seeded_key(seed, f"{point.source}/{point.source_id}/{point.step}"))
    proposals = iter_proposals(point, rng, error_type)
    if error_type is not None:  # the slot's own type only: its other options cover the other types
        proposals = (p for p in proposals if p.error_type == error_type or p.relation == "precondition")
    found = list(itertools.islice(proposals, MAX_PROPOSALS))
    return sorted(found, key=lambda p: p.priority)  # stable


def _label(point: DecisionPoint, error_type: str | None) -> tuple[Any, ...]:
    return error_type, point.reply_kind, point.wrong_reply_intent


@dataclass
class _Candidate:
    """A case a slot can be filled with: it passed the execution check."""

    point: DecisionPoint
    proposal: Any
    info: dict[str, Any]
    key: str


def _candidates(item: SourcePoint, seed: int, reasons: list[str]) -> list[_Candidate]:
    """The cases a slot can take: up to CANDIDATES of its own label (type and reason) that pass
    the execution check, of the operators' best priority among them; if none, the first
    fallback option's first that passes."""
    first = _label(*item.options[0])
    own = [o for o in item.options[:MAX_OPTIONS] if _label(*o) == first]
    fallbacks = [o for o in item.options[:MAX_OPTIONS] if _label(*o) != first]
    found: list[_Candidate] = []
    for group, wanted in ((own, CANDIDATES), (fallbacks, 1)):
        for point, error_type in group:
            for tried, proposal in enumerate(_proposals(point, error_type, seed), start=1):
                if len(found) >= wanted or (found and proposal.priority > found[0].proposal.priority):
                    break
                if proposal.action == point.gold or (proposal.needs_error and item.check is None):
                    continue  # a skipped precondition is a mistake only where an environment refuses it
                passed, info = _run_check(item.check, point, proposal.action, tried)
                if passed and proposal.needs_error and info.get("reason") != ERRORS:
                    passed = False
                    info["reason"] = f"the environment accepts it ({info['reason']}): no precondition was skipped"
                if passed:
                    found.append(_Candidate(point, proposal, info, _case_key(point, proposal.action)))
                    if sum(c.point is point for c in found) >= PER_POINT:
                        break  # other points of the slot get their turn
                    continue
                reasons.append(f"{proposal.operator}: {info['reason']}")
            if len(found) >= wanted:
                break
        if found:
            return sorted(found, key=lambda c: c.proposal.priority)
    return found


def _next_candidate(item: SourcePoint, seed: int, taken: set[str], reasons: list[str]) -> _Candidate | None:
    """The slot's first case, over all its options (fallbacks included), that passes the check
    and is no other slot's case."""
    for point, error_type in item.options:
        for tried, proposal in enumerate(_proposals(point, error_type, seed), start=1):
            key = _case_key(point, proposal.action)
            if proposal.action == point.gold or key in taken or (proposal.needs_error and item.check is None):
                continue
            passed, info = _run_check(item.check, point, proposal.action, tried)
            if passed and (not proposal.needs_error or info.get("reason") == ERRORS):
                return _Candidate(point, proposal, info, key)
            reasons.append(f"{proposal.operator}: {info['reason']}")
    return None


def _grounded_sides(points: list[SourcePoint], slots: list[list[_Candidate]]) -> list[list[dict[str, int]]]:
    """Each case's grounded side (`balance.grounded_side`) where its point takes the GROUNDED_SIDES
    rule, in the group the audit reads it in: split, error type and tier."""
    texts: dict[int, HistoryText] = {}  # a slot's cases share their points' histories: read each once
    out = []
    for item, found in zip(points, slots, strict=True):
        sides = []
        for candidate in found:
            point, proposal = candidate.point, candidate.proposal
            if GROUNDED_SIDES not in point.rules:
                sides.append({})
                continue
            if id(point.history) not in texts:
                texts[id(point.history)] = HistoryText.of(point.history)
            group = f"{item.split} {proposal.error_type} {tier_of({'relation': proposal.relation})}"
            sides.append(grounded_side(proposal.action, point.gold, texts[id(point.history)], group))
        out.append(sides)
    return out


def _rule_cases(points: list[SourcePoint], seed: int, version: str, result: BuildResult) -> None:
    """Each slot's candidates (`_candidates`), then the choice among them that evens the set's
    tokens and sides out (`balance.choose`, `_grounded_sides`); a slot without one is reported with the reasons. Variants of
    one BFCL entry can share a point's history: a case made twice is made once."""
    slots, reasons_of = [], []
    for item in points:
        reasons: list[str] = []
        slots.append(_candidates(item, seed, reasons))
        reasons_of.append(reasons)
    pairs = [[(c.proposal.action, c.point.gold) for c in found] for found in slots]
    keys = [[c.key for c in found] for found in slots]
    chosen = choose(pairs, keys, [LENGTH_SIDES in item.point.rules for item in points],
                    _grounded_sides(points, slots))
    taken = {keys[i][pick] for i, pick in enumerate(chosen) if pick is not None}
    for i, pick in enumerate(chosen):
        if pick is None:  # no candidate, or every one another slot's case: the next that is not
            extra = _next_candidate(points[i], seed, taken, reasons_of[i])
            if extra is not None:
                slots[i].append(extra)
                chosen[i] = len(slots[i]) - 1
                taken.add(extra.key)
    for item, found, pick, reasons in zip(points, slots, chosen, reasons_of, strict=True):
        if pick is None:
            result.failures.append(_failure(item.point.source_id, item.point.step, item.split, "rule",
                                            reasons or ["no operator applies"]))
            continue
        candidate = found[pick]
        point, proposal = candidate.point, candidate.proposal
        extra = {**item.extra, "reply_kind": point.reply_kind} if point.reply_kind else item.extra
        result.records.append(_record(point, proposal.action, proposal.error_type, f"rule:{proposal.operator}", seed,
                                      version, candidate.info, extra,
                                      difficulty(proposal.operator.split(":")[0], proposal.relation)))


def _failure(source_id: str, step: int | None, split: str, sampling: str, reasons: list[str]) -> dict[str, Any]:
    """A slot without a case, as `check_failures_<source>.json` lists it: every record the same
    fields (`step_index` None where a rollout gave no step to point at)."""
    return {"source_id": source_id, "step_index": step, "split": split, "sampling": sampling, "reasons": reasons}


def _policy_cases(points: list[SourcePoint], policy: ModelCaller, seed: int, version: str,
                  result: BuildResult) -> None:
    answers = policy.generate_all([proposal_prompt(item.point) for item in points])
    for item, answer in zip(points, answers, strict=True):
        action = read_answer(answer)
        if action.kind == INVALID:  # counted with its reason, never a case
            result.failures.append(_failure(item.point.source_id, item.point.step, item.split, "policy",
                                            [f"policy answer is no action: {action.why}"]))
            continue
        rejected = action.value
        if equivalent(item.point.gold, rejected, item.point.functions):
            result.discarded_equivalent += 1
            continue
        passed, info = _run_check(item.check, item.point, rejected, 1)
        if not passed:
            result.failures.append(_failure(item.point.source_id, item.point.step, item.split, "policy",
                                            [info["reason"]]))
            continue
        result.records.append(_record(item.point, rejected, error_type_of(item.point.gold, rejected),
                                      f"policy:{policy.name}", seed, version, info, item.extra,
                                      difficulty("policy", "model")))


def _online_cases(conversations: list[Any], split: str, policy: ModelCaller, annotator: ModelCaller, seed: int,
                  version: str, result: BuildResult) -> None:
    from toolprm_tasks.rebuild.bfcl_points import execution_check, task_of
    from toolprm_tasks.rebuild.online import annotated_points, rollouts

    runs = rollouts(conversations, policy)
    failed = [run for run in runs if not run.succeeded]
    result.models["online"] = {"rollouts": len(runs), "failed_rollouts": len(failed)}
    for run, point, rejected, problem in annotated_points(failed, annotator):
        if point is None:
            result.failures.append(_failure(run.conversation.id, None, split, "online", [problem]))
            continue
        if isinstance(rejected, str) and not rejected.strip():
            result.failures.append(_failure(run.conversation.id, point.step, split, "online",
                                            ["policy step is an empty reply: no action"]))
            continue
        if equivalent(point.gold, rejected, point.functions):
            result.discarded_equivalent += 1
            continue
        outcome = execution_check(run.conversation, point, rejected)
        info = {"applicable": True, "passed": outcome.passed, "reason": outcome.reason, "tried": 1}
        if not outcome.passed:
            result.failures.append(_failure(run.conversation.id, point.step, split, "online", [outcome.reason]))
            continue
        result.records.append(_record(point, rejected, error_type_of(point.gold, rejected),
                                      f"online:{policy.name}+{annotator.name}", seed, version, info,
                                      {**_bfcl_extra(run.conversation), "task": task_of(run.conversation)},
                                      difficulty("online", "model")))


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


@dataclass
class SourceData:
    """A source's slots of both splits, its conversations (online sampling) and version."""

    points: dict[str, list[SourcePoint]]  # split -> slots
    conversations: dict[str, list[Any]]  # split -> conversations (BFCL; online sampling)
    version: str
    clusters: dict[str, list[str]]  # split -> clusters
    # split -> conversations that gave no slot, as check-failure records (GTA: a dialog with no call)
    skipped: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _split_clusters(clusters: dict[str, str], seed: int, source: str) -> dict[str, str]:
    """conversation id -> split, whole clusters at once (`split.assign`)."""
    by_cluster = assign(sorted(set(clusters.values())), seed, source)
    return {cid: by_cluster[cluster] for cid, cluster in clusters.items()}


def _clusters_by_split(clusters: dict[str, str], splits: dict[str, str]) -> dict[str, list[str]]:
    return {split: sorted({clusters[cid] for cid, s in splits.items() if s == split}) for split in SPLITS}


def bfcl_points(seed: int, limit: int | None = None) -> SourceData:
    from toolprm_tasks.envs.bfcl import load_conversations
    from toolprm_tasks.rebuild.bfcl_points import execution_check, points_by_conversation, select, task_of

    conversations = load_conversations(limit=limit)
    clusters = {c.id: task_of(c) for c in conversations}
    splits = _split_clusters(clusters, seed, "bfcl")
    points = points_by_conversation(conversations, seed)
    out: dict[str, list[SourcePoint]] = {}
    for split in SPLITS:
        members = [c for c in conversations if splits[c.id] == split]
        out[split] = []
        for slot in select(members, points, seed, split):

            def check(point: DecisionPoint, action: Any, conversation=slot.conversation) -> tuple[bool, str]:
                outcome = execution_check(conversation, point, action)
                return outcome.passed, outcome.reason

            out[split].append(SourcePoint(slot.options, check, {**_bfcl_extra(slot.conversation),
                                                                "task": task_of(slot.conversation)}, split))
    return SourceData(out, {s: [c for c in conversations if splits[c.id] == s] for s in SPLITS},
                      f"bfcl-eval=={package_versions('bfcl-eval')['bfcl-eval']}", _clusters_by_split(clusters, splits))


def tooltalk_points(seed: int, limit: int | None = None) -> SourceData:
    from toolprm_tasks.rebuild.tooltalk import api_specs, load_conversations, points_by_conversation, select

    conversations = load_conversations(limit=limit)
    clusters = {c.id: f"tooltalk/{c.id}" for c in conversations}  # the cases' sample_id
    splits = _split_clusters(clusters, seed, "tooltalk")
    points = points_by_conversation(conversations, api_specs(), seed)
    out = {split: [SourcePoint(slot.options, None, {"tooltalk_split": slot.conversation.split}, split)
                   for slot in select([c for c in conversations if splits[c.id] == split], points, seed, split)]
           for split in SPLITS}
    return SourceData(out, {s: [] for s in SPLITS}, f"nvidia-tooltalk=={package_versions('nvidia-tooltalk')['nvidia-tooltalk']}",
                      _clusters_by_split(clusters, splits))


def gta_points(seed: int, dataset: Path | None, limit: int | None = None) -> SourceData:
    from toolprm_tasks.rebuild.gta import check_toolmeta, decision_points, load_dataset, pick_point, read_source_json

    if dataset is None:
        raise ValueError("GTA is not on PyPI: pass the path of your copy of its dataset.json (--gta-dataset)")
    toolmeta_path = dataset.parent / "toolmeta.json"
    toolmeta, meta_raw = None, b""
    if os.path.lexists(toolmeta_path):  # a folder or a dead link there is an error, not "no toolmeta"
        value, meta_raw = read_source_json(toolmeta_path)
        toolmeta = check_toolmeta(toolmeta_path, value)
    queries, dataset_raw = load_dataset(dataset)
    queries = queries[:limit]
    clusters = {query.id: query.id for query in queries}  # the cases' task
    splits = _split_clusters(clusters, seed, "gta")
    out: dict[str, list[SourcePoint]] = {split: [] for split in SPLITS}
    skipped: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for query in queries:
        rng = random.Random(seeded_key(seed, f"gta/{query.id}"))
        point = pick_point(decision_points(query, toolmeta), rng)
        if point is None:  # counted in check_failures, never dropped in silence
            skipped[splits[query.id]].append(_failure(query.id, None, splits[query.id], "rule", [
                "no decision point: the dialog has no tool call (a final answer is judged only after one)"]))
            continue
        out[splits[query.id]].append(SourcePoint(((point, None),), None, {"task": query.id}, splits[query.id]))
    # the tool specs come from toolmeta.json: another toolmeta is another source
    version = "gta:" + hashlib.sha256(dataset_raw).hexdigest()[:16]
    if toolmeta is not None:
        version += "+toolmeta:" + hashlib.sha256(meta_raw).hexdigest()[:16]
    return SourceData(out, {s: [] for s in SPLITS}, version, _clusters_by_split(clusters, splits), skipped)


def build_source(source: str, points: list[SourcePoint], conversations: list[Any], version: str, seed: int,
                 models: Models, calls_dir: Path, split: str = "test") -> BuildResult:
    """Rule-based, policy and online cases for one source, then the judges' filter
    (`split`: the split that `conversations` are of, for the failures online sampling reports)."""
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
        _online_cases(conversations, split, policy, annotator, seed, version, result)
    judges = [caller(f"judge{i}", judge) for i, judge in enumerate(models.judges)]
    if judges:
        _judge(result, judges)
    # names only: call counts depend on the cache, and the manifest must not
    result.models.update({"policy": policy and policy.name, "annotator": annotator and annotator.name,
                          "judges": [j.name for j in judges]})
    for role in (policy, annotator, *judges):
        if role is not None:
            logger.info("toolprm-tasks build %s: %s", role.role, describe(role))
            for note in call_notes(role):  # shown without any logging set up (Python's last-resort handler)
                logger.warning("toolprm-tasks build %s: %s", source, note)
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
    hard = [r for r in records if tier_of(r.get("difficulty")) == "hard"]
    if hard:  # the hard tier audited on its own: its wrong actions must carry no artifact either
        out["audit_by_tier"] = {"hard": audit_records(hard, source, source=f"prmbench_rebuilt_{source}.json (hard)")}
    methods = sorted({r["sampling"].split(":")[0] for r in records})
    if len(methods) > 1:
        out["audit_by_sampling"] = {m: audit_records([r for r in records if r["sampling"].split(":")[0] == m], source,
                                                     source=f"prmbench_rebuilt_{source}.json ({m})")
                                    for m in methods}
    return out


def _dump(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What a split's cases are made of: error types, sampling methods, operators, relations, tiers."""
    return {
        "cases": len(records),
        "by_error_type": dict(sorted(Counter(r["error type"] for r in records).items())),
        "by_sampling": dict(sorted(Counter(r["sampling"].split(":")[0] for r in records).items())),
        "by_operator": dict(sorted(Counter(r["sampling"].split(":")[1] for r in records
                                           if r["sampling"].startswith("rule:")).items())),
        "by_relation": dict(sorted(Counter(r["difficulty"]["relation"] for r in records).items())),
        "by_tier": dict(sorted(Counter(tier_of(r["difficulty"]) for r in records).items())),
    }


def write_build(source: str, result: BuildResult, out: Path, seed: int, audit_model: str | None = None,
                train: BuildResult | None = None, clusters: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Write the cases of both splits, the failures and the manifest atomically (a temp
    folder, then renames). `result` is the test split, `train` the training split."""
    out.mkdir(parents=True, exist_ok=True)
    train = train or BuildResult()
    files = {f"prmbench_rebuilt_{source}.json": _dump(result.records),
             f"prmbench_rebuilt_{source}_train.json": _dump(train.records),
             f"check_failures_{source}.json": _dump(result.failures + train.failures)}
    if result.review or result.dropped:
        files[f"review_{source}.json"] = _dump(result.review)
        files[f"dropped_{source}.json"] = _dump(result.dropped)

    checks = Counter("not applicable" if not r["execution_check"].get("applicable") else "passed"
                     for r in result.records)
    counts = _counts(result.records)
    clusters = clusters or {}
    manifest = {
        "source": source,
        "build_version": BUILD_VERSION,
        "code": code_fingerprint(),
        "seed": seed,
        "source_version": result.records[0]["source_version"] if result.records else None,
        **counts,
        "relations": {name: RELATIONS[name] for name in counts["by_relation"]},
        "model_proposals_equivalent_to_gold": result.discarded_equivalent,
        "judges": {"kept": len(result.records), "review": len(result.review), "dropped": len(result.dropped)}
        if result.review or result.dropped or any("judge_votes" in r for r in result.records) else None,
        "models": result.models,
        "execution_check": {**dict(sorted(checks.items())), "failed_points": len(result.failures)},
        "splits": {"test": {"clusters": clusters.get("test", []), "cases": len(result.records)},
                   "train": {"clusters": clusters.get("train", []), "cases": len(train.records),
                             "file": f"prmbench_rebuilt_{source}_train.json", "failed_points": len(train.failures),
                             **{k: v for k, v in _counts(train.records).items() if k != "cases"}}},
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
    # a build killed outright (SIGKILL) left it; an older version's (no pid, no lock) is stale after
    # an hour (a build writes its files in seconds)
    remove_stale_partials(out, PARTIAL_PREFIX, "a build", legacy_stale_s=3600.0)
    with partial_folder(out, PARTIAL_PREFIX) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        for name in files:
            os.replace(tmp / name, out / name)
    for stale in (f"review_{source}.json", f"dropped_{source}.json"):
        if stale not in files:  # an earlier judged build's, in the same folder: it would mix two builds
            (out / stale).unlink(missing_ok=True)
    return manifest


def _require_source_packages(sources: list[str]) -> None:
    """Every missing source package named at once (one was named per try)."""
    from toolprm_tasks.envs.bfcl import data_dir
    from toolprm_tasks.rebuild.tooltalk import package_dir

    missing = []
    for source, locate in (("bfcl", data_dir), ("tooltalk", package_dir)):
        if source in sources:
            try:
                locate()
            except SourceError as exc:
                missing.append(str(exc))
    if missing:
        raise SourceError("; ".join(missing))


def build(sources: Iterable[str], out: Path, seed: int = 0, gta_dataset: Path | None = None,
          models: Models | None = None, limit: int | None = None) -> dict[str, dict[str, Any]]:
    """Build each source's cases of both splits into `out` (see the module docstring). Model
    calls (test split only; the training split is rule-made) are cached under
    `out/.calls/<source>/`, so a rerun after an interruption redoes no finished call."""
    models = models or Models()
    collectors: dict[str, Callable[[], SourceData]] = {
        "bfcl": lambda: bfcl_points(seed, limit), "tooltalk": lambda: tooltalk_points(seed, limit),
        "gta": lambda: gta_points(seed, gta_dataset, limit),
    }
    sources = list(sources)
    _require_source_packages(sources)
    manifests = {}
    for source in sources:
        if source not in collectors:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(collectors)}")
        data = collectors[source]()
        result = build_source(source, data.points["test"], data.conversations["test"], data.version, seed, models,
                              out / ".calls" / source, "test")
        train = build_source(source, data.points["train"], [], data.version, seed, Models(), out / ".calls" / source,
                             "train")
        result.failures += data.skipped.get("test", [])
        train.failures += data.skipped.get("train", [])
        manifests[source] = write_build(source, result, out, seed, models.audit_model, train, data.clusters)
    return manifests
