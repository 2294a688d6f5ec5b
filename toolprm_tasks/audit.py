"""The artifact audit: can the chosen action be told from the rejected one without the history?

A judge should need the history and the tools to pick the right next action. If a model that
never sees them does well, the cases carry annotation artifacts (the "hypothesis-only"
baseline of the NLI literature: Gururangan et al. 2018, Poliak et al. 2018), and a PRM
trained or evaluated on them learns or is rewarded for the artifact. Two learned probes and
the weight-free judges, all deterministic:

- candidate-only: a TF-IDF + logistic-regression scorer trained on single candidates
  ("is this text a chosen action?"); a case is right when the chosen candidate scores higher.
- candidate-pair: the same features for both candidates of a case, plus the tokens each has
  that the other lacks, in an antisymmetric linear model (swapping the candidates flips the
  score, so order cannot matter); no history, no tools.
- the weight-free judges of `baselines.py` (random, first, longer, schema, and `grounding`,
  the one that reads the history: the share of a candidate's values and words the history
  holds), both orders, and the "prefer the call" rule that call-against-reply cases must not
  reward.

The probes are trained and tested across conversations: clusters (`Case.cluster`) are
shuffled into `FOLDS` folds, each fold is predicted by a model fitted on the others, and
this is repeated `REPEATS` times with different shuffles. Each case's outcome (1 right, 0
wrong, 0.5 on a tie) is averaged over the repeats; accuracy is the mean over cases, with a
95% percentile interval from a cluster bootstrap of those per-case outcomes (`BOOTSTRAP`
resamples of whole clusters) and the range of the per-repeat accuracies beside it. The
interval covers which conversations were sampled, not the training noise of the probes.

Thresholds (`THRESHOLDS`) are the ones a rebuilt set must meet: probes <= 60% overall,
<= 65% on call-against-reply cases pooled and on each call-against-call type; weight-free
judges <= 60% in either direction (a judge at 35% is a 65% rule inverted), the "prefer the
call" rule judged on the call-against-reply pool; the history-aware surface judge
(`grounding`) also <= 65% on each error type. A group of fewer than `MIN_GROUP` cases
gets its figure but no verdict. The official release is audited with the same code and
reported, never filtered.
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.core.baselines import HISTORY_JUDGES
from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.render import render_action
from toolprm_tasks.rebuild.difficulty import in_tier

AUDIT_VERSION = 2  # 2: the grounding judge and its per-type threshold
FOLDS = 5
REPEATS = 3
BOOTSTRAP = 1000
SEED = 0
CALL_VS_REPLY = ("should_call", "should_chat")  # pooled: a "prefer the call" rule wins one, loses the other
CALL_VS_CALL = ("wrong_tool", "wrong_params")
THRESHOLDS = {"probe_overall": 0.60, "probe_call_vs_reply": 0.65, "probe_call_vs_call_type": 0.65,
              "judge_overall": 0.60, "history_judge_type": 0.65}
ERROR_TYPES = ("should_call", "should_chat", "wrong_params", "wrong_tool")
MIN_GROUP = 10  # a group smaller than this gets a figure but no threshold verdict (too few cases)

# words, numbers and single punctuation marks: JSON structure and values alike are tokens
_TOKEN = re.compile(r"[A-Za-z_]+|\d+|[^\sA-Za-z_\d]")


def candidate_text(action: Any) -> str:
    """What the probes read of a candidate: its rendering, as every judge sees it."""
    return render_action(action)


def tokens(text: str) -> list[str]:
    """The probes' tokens of a text: lower-cased words, numbers and single punctuation marks."""
    return _TOKEN.findall(text.lower())


_tokens = tokens


def _dense(action: Any, text: str) -> list[float]:
    """Shape features TF-IDF cannot see: kind, length, argument count, question form."""
    is_call = not isinstance(action, str)
    params = action.get("parameters") if isinstance(action, dict) else None
    stripped = text.strip()
    return [float(is_call), math.log1p(len(text)) / 8.0, float(len(params)) / 4.0 if isinstance(params, dict) else 0.0,
            float(stripped.endswith("?")), float(stripped.count("?")) / 2.0]


@dataclass(frozen=True)
class _Matrices:
    """Every case's features, computed once: rows of the chosen and the rejected candidate, and
    of the tokens each has that the other lacks. Vocabulary and IDF come from all candidate
    texts of the set (no labels); only the classifiers are fitted per fold."""

    chosen: Any
    rejected: Any
    chosen_only: Any
    rejected_only: Any

    @classmethod
    def of(cls, cases: Sequence[Case]) -> _Matrices:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        chosen = [candidate_text(c.chosen) for c in cases]
        rejected = [candidate_text(c.rejected) for c in cases]
        word = TfidfVectorizer(tokenizer=_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                               sublinear_tf=True).fit(chosen + rejected)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2).fit(chosen + rejected)

        def rows(actions: list[Any], texts: list[str]) -> Any:
            dense = csr_matrix([_dense(a, t) for a, t in zip(actions, texts, strict=True)])
            return hstack([word.transform(texts), char.transform(texts), dense]).tocsr()

        c_only = [_diff_text(a, b) for a, b in zip(chosen, rejected, strict=True)]
        r_only = [_diff_text(b, a) for a, b in zip(chosen, rejected, strict=True)]
        diff = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False,
                               sublinear_tf=True).fit(c_only + r_only)
        return cls(rows([c.chosen for c in cases], chosen), rows([c.rejected for c in cases], rejected),
                   diff.transform(c_only), diff.transform(r_only))


def _diff_text(text: str, other: str) -> str:
    """The tokens of one candidate that the other lacks (in order, once each)."""
    theirs = set(_tokens(other))
    seen: list[str] = []
    for token in _tokens(text):
        if token not in theirs and token not in seen:
            seen.append(token)
    return " ".join(seen) or "<same>"


def _logistic(seed: int, intercept: bool = True) -> Any:
    from sklearn.linear_model import LogisticRegression

    # liblinear is deterministic for a fixed random_state; the dual form is the fast one when
    # features outnumber samples (as here); C=1 is sklearn's default strength
    return LogisticRegression(C=1.0, solver="liblinear", dual=True, random_state=seed, fit_intercept=intercept,
                              max_iter=1000)


def _candidate_only(m: _Matrices, train: list[int], test: list[int], seed: int) -> list[float]:
    """Margins score(chosen) - score(rejected) of a single-candidate classifier ("is this text
    a chosen action?")."""
    from scipy.sparse import vstack

    model = _logistic(seed).fit(vstack([m.chosen[train], m.rejected[train]]), [1] * len(train) + [0] * len(train))
    return list(model.decision_function(m.chosen[test]) - model.decision_function(m.rejected[test]))


def _candidate_pair(m: _Matrices, train: list[int], test: list[int], seed: int) -> list[float]:
    """Margins of a pair classifier that sees both candidates (never the history): features
    g(a|b) - g(b|a), so swapping the candidates negates the score and order cannot matter."""
    from scipy.sparse import hstack, vstack

    pairs = hstack([m.chosen - m.rejected, m.chosen_only - m.rejected_only]).tocsr()
    # both orders, labels 1 and 0, no intercept: the fitted score is antisymmetric
    model = _logistic(seed, intercept=False).fit(vstack([pairs[train], -pairs[train]]),
                                                 [1] * len(train) + [0] * len(train))
    return list(model.decision_function(pairs[test]))


PROBES: dict[str, Callable[[_Matrices, list[int], list[int], int], list[float]]] = {
    "candidate_only": _candidate_only,
    "candidate_pair": _candidate_pair,
}


def _folds(cases: Sequence[Case], folds: int, rng: random.Random) -> list[list[int]]:
    """Case indices per fold; whole clusters only, clusters shuffled then dealt to the
    currently smallest fold so fold sizes stay close."""
    by_cluster: dict[str, list[int]] = defaultdict(list)
    for index, case in enumerate(cases):
        by_cluster[case.cluster].append(index)
    clusters = sorted(by_cluster)
    rng.shuffle(clusters)
    out: list[list[int]] = [[] for _ in range(folds)]
    for cluster in clusters:
        min(out, key=len).extend(by_cluster[cluster])
    return [sorted(f) for f in out if f]


def _outcome(margin: float) -> float:
    return 1.0 if margin > 0 else 0.0 if margin < 0 else 0.5


def _probe_outcomes(cases: Sequence[Case], matrices: _Matrices, probe: str, folds: int, repeats: int,
                    seed: int) -> tuple[list[float], list[float]]:
    """Per-case outcome averaged over repeats, and each repeat's accuracy."""
    totals = [0.0] * len(cases)
    per_repeat = []
    for repeat in range(repeats):
        rng = random.Random(f"{seed}:audit:{repeat}")
        outcomes = [0.0] * len(cases)
        for fold in _folds(cases, folds, rng):
            held = set(fold)
            train = [i for i in range(len(cases)) if i not in held]
            for i, margin in zip(fold, PROBES[probe](matrices, train, fold, seed), strict=True):
                outcomes[i] = _outcome(float(margin))
        per_repeat.append(sum(outcomes) / len(cases))
        totals = [t + o for t, o in zip(totals, outcomes, strict=True)]
    return [t / repeats for t in totals], per_repeat


def cluster_bootstrap(values: Sequence[float], clusters: Sequence[str], resamples: int = BOOTSTRAP,
                      seed: int = SEED) -> tuple[float, float]:
    """95% percentile interval of the mean, resampling whole clusters with replacement."""
    import numpy as np

    names = sorted(set(clusters))
    if not names:
        return math.nan, math.nan
    index = {name: i for i, name in enumerate(names)}
    members = np.array([index[c] for c in clusters])
    sums = np.bincount(members, weights=np.asarray(values, dtype=float), minlength=len(names))
    counts = np.bincount(members, minlength=len(names)).astype(float)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(resamples, len(names)))
    means = np.sort(sums[draws].sum(axis=1) / counts[draws].sum(axis=1))
    return float(means[int(0.025 * (resamples - 1))]), float(means[int(math.ceil(0.975 * (resamples - 1)))])


def _summary(values: Sequence[float], clusters: Sequence[str], seed: int) -> dict[str, Any]:
    if not values:
        return {"n": 0, "acc": None, "ci95": None}
    low, high = cluster_bootstrap(values, clusters, seed=seed)
    return {"n": len(values), "acc": round(sum(values) / len(values), 4), "ci95": [round(low, 4), round(high, 4)]}


def _groups(cases: Sequence[Case]) -> dict[str, list[int]]:
    """Case indices per error type, and the call-against-reply pool."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, case in enumerate(cases):
        groups[case.error_type].append(index)
        if case.error_type in CALL_VS_REPLY:
            groups["call_vs_reply"].append(index)
    return dict(sorted(groups.items()))


def _report(values: Sequence[float], cases: Sequence[Case], seed: int) -> dict[str, Any]:
    clusters = [c.cluster for c in cases]
    report = {"overall": _summary(values, clusters, seed), "by_group": {}}
    for name, indices in _groups(cases).items():
        report["by_group"][name] = _summary([values[i] for i in indices], [clusters[i] for i in indices], seed)
    return report


def _is_call(action: Any) -> bool:
    return not isinstance(action, str)


def _judge_outcomes(cases: Sequence[Case]) -> dict[str, list[float]]:
    """Per-case accuracy (mean of both orders) of each weight-free judge and the call rule."""
    from toolprm_tasks.core.baselines import JUDGES, generative_pick
    from toolprm_tasks.core.trials import build_trials

    trials = build_trials(list(cases), order="both")
    position = {case.id: i for i, case in enumerate(cases)}
    out: dict[str, list[float]] = {}
    for judge in JUDGES:
        values = [0.0] * len(cases)
        for trial in trials:
            right = generative_pick(judge, trial.judge_view()) == trial.chosen_position
            values[position[trial.case.id]] += 0.5 if right else 0.0
        out[judge] = values
    # a rule that needs no history either: the call beats the reply (ties: a coin, 0.5)
    out["prefer_call"] = [_outcome(float(_is_call(c.chosen)) - float(_is_call(c.rejected))) for c in cases]
    return out


def _verdict(report: dict[str, Any]) -> list[str]:
    """Every threshold the report breaks, in words. A weight-free rule counts in either
    direction: a judge far below 50% is a rule too, once inverted ("prefer the shorter")."""
    problems = []

    def check(name: str, summary: dict[str, Any], limit: float, either: bool = False) -> None:
        acc = summary["acc"]
        if acc is None or summary["n"] < MIN_GROUP:
            return
        if acc > limit:
            problems.append(f"{name}: {acc:.1%} > {limit:.0%} (n={summary['n']})")
        elif either and 1 - acc > limit:
            problems.append(f"{name}: {acc:.1%}, so its inverse scores {1 - acc:.1%} > {limit:.0%} (n={summary['n']})")

    for probe, result in report["probes"].items():
        check(f"{probe} overall", result["overall"], THRESHOLDS["probe_overall"])
        groups = result["by_group"]
        if "call_vs_reply" in groups:
            check(f"{probe} call_vs_reply", groups["call_vs_reply"], THRESHOLDS["probe_call_vs_reply"])
        for slug in CALL_VS_CALL:
            if slug in groups:
                check(f"{probe} {slug}", groups[slug], THRESHOLDS["probe_call_vs_call_type"])
    for judge, result in report["judges"].items():
        if judge == "prefer_call":  # 100% on one call/reply type, 0% on the other: judged pooled
            if "call_vs_reply" in result["by_group"]:
                check("prefer_call call_vs_reply", result["by_group"]["call_vs_reply"], THRESHOLDS["judge_overall"],
                      either=True)
            continue
        check(f"judge {judge} overall", result["overall"], THRESHOLDS["judge_overall"], either=True)
        if judge in HISTORY_JUDGES:  # surface matching against the history must not solve any type
            for slug in ERROR_TYPES:
                if slug in result["by_group"]:
                    check(f"judge {judge} {slug}", result["by_group"][slug], THRESHOLDS["history_judge_type"])
    return problems


def audit_cases(cases: Sequence[Case], *, folds: int = FOLDS, repeats: int = REPEATS, seed: int = SEED) -> dict[str, Any]:
    """The full audit of one set of cases (one subset): probes, judges, thresholds."""
    cases = list(cases)
    clusters = sorted({c.cluster for c in cases})
    report: dict[str, Any] = {
        "audit_version": AUDIT_VERSION,
        "cases": len(cases),
        "clusters": len(clusters),
        "method": {"folds": folds, "repeats": repeats, "bootstrap": BOOTSTRAP, "seed": seed,
                   "split": "whole clusters (Case.cluster) per fold", "ci": "95% cluster bootstrap, percentile",
                   "features": "word 1-2-gram + char 2-4-gram TF-IDF, shape features; logistic regression"},
        "probes": {}, "judges": {}, "thresholds": THRESHOLDS,
    }
    can_learn = len(clusters) >= 2 and len(cases) >= 4
    matrices = _Matrices.of(cases) if can_learn else None
    for probe in PROBES:
        if not can_learn:
            report["probes"][probe] = {"overall": {"n": len(cases), "acc": None, "ci95": None}, "by_group": {},
                                       "skipped": "fewer than 2 clusters or 4 cases: nothing to train on"}
            continue
        values, per_repeat = _probe_outcomes(cases, matrices, probe, min(folds, len(clusters)), repeats, seed)
        result = _report(values, cases, seed)
        result["repeat_range"] = [round(min(per_repeat), 4), round(max(per_repeat), 4)]
        report["probes"][probe] = result
    for judge, values in _judge_outcomes(cases).items():
        report["judges"][judge] = _report(values, cases, seed)
    problems = _verdict(report)
    # None: too few cases for any verdict (a figure is still given)
    report["passed"] = (not problems) if len(cases) >= MIN_GROUP else None
    report["problems"] = problems
    return report


def format_report(name: str, report: dict[str, Any]) -> str:
    """A plain-text table of one audit report."""
    verdict = {True: "PASSED", False: "FAILED", None: "NOT JUDGED (too few cases)"}[report["passed"]]
    lines = [f"{name}: {report['cases']} cases in {report['clusters']} clusters; {verdict} "
             f"(audit v{report['audit_version']})"]
    groups = sorted({g for section in ("probes", "judges") for r in report[section].values() for g in r["by_group"]})
    header = f"  {'':16s}{'overall':>22s}" + "".join(f"{g:>22s}" for g in groups)
    lines.append(header)

    def cell(summary: dict[str, Any] | None) -> str:
        if not summary or summary.get("acc") is None:
            return f"{'-':>22s}"
        low, high = summary["ci95"]
        return f"{summary['acc']:>7.1%} [{low:.0%},{high:.0%}] n={summary['n']:<4d}".rjust(22)

    for section in ("probes", "judges"):
        for name_, result in report[section].items():
            lines.append(f"  {name_:16s}{cell(result['overall'])}" + "".join(cell(result["by_group"].get(g))
                                                                           for g in groups))
    for problem in report["problems"]:
        lines.append(f"  over threshold: {problem}")
    return "\n".join(lines)


def audit_records(records: list[Any], subset: str, source: str = "built", tier: str = "all",
                  **kwargs: Any) -> dict[str, Any]:
    """The audit of release-format records (a build's output before it is written, or a file).
    A record that does not validate is left out of the audit and counted, with its error (its
    index in the file). `tier`: only the valid records of that tier (`rebuild.difficulty`) are
    audited; a set with none is a ValueError."""
    from toolprm_tasks.core.cases import RecordError, case_from_record

    if not records:  # as the loaders: an empty record list is an error, never "0 cases"
        raise ValueError(f"{source}: no records (an empty list)")
    cases, invalid = [], []
    for index, record in enumerate(records):
        try:
            case = case_from_record(record, subset=subset, index=index, source=source)
        except RecordError as exc:
            invalid.append(str(exc))
            continue
        if in_tier(case.provenance, tier):
            cases.append(case)
    if tier != "all" and not cases:
        raise ValueError(f"{source}: no case of the {tier} tier (the paper's release and builds older than "
                         "version 6 have no difficulty field)")
    report = audit_cases(cases, **kwargs)
    report["invalid_records"] = {"count": len(invalid), "first": invalid[:5]}
    if invalid:  # a set with records that do not validate fails, however few cases it has
        report["problems"].append(f"{len(invalid)} record(s) do not validate and are not audited")
        report["passed"] = False
    return report
