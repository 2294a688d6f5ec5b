"""The framework-free scoring core: answer parsing, picks, per-trial outcomes, metrics.

Every number lm-eval and Inspect report for ToolPRMBench comes from `aggregate()`, so the two
frameworks agree by construction for the same predictions.

A trial's outcome is three numbers (fractions after Inspect's epoch reduction):
- `first`: 1 if the judge picked the candidate shown first, 0 if the second, 0.5 for an
  exact tie of scores, 0 if unparseable;
- `parsed`: 1 if the answer named a candidate (ties included), else 0;
- `correct`: 1 if the pick is the chosen action, 0.5 for a tie, 0 otherwise (unparseable
  answers are wrong, as in the paper's accuracy).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.cases import ERROR_TYPE_SLUGS

METRICS: tuple[str, ...] = (
    "acc", "acc_cluster_se", "consistency", "first_rate", "parse_fail",
    *(f"acc_{slug}" for slug in ERROR_TYPE_SLUGS),
)

# ----------------------------------------------------------------------------- parsing

_LABEL = re.compile(r"action[\s_\-#]*([12])(?![0-9])", re.IGNORECASE)
_ANSWER_KEYS = ("chosen action", "chosen_action", "chosenaction", "winning_action", "winning action",
                "answer", "final answer", "final_answer", "choice", "correct action", "correct_action")
_CUE = re.compile(
    r"(?:chosen[\s_]*action|winning[\s_]*action|final[\s_]*answer|answer|correct[\s_]*(?:one|action)\s+is|"
    r"i\s+(?:choose|pick|select))\W{0,6}(action[\s_\-#]*[12](?![0-9]))",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class ParsedAnswer:
    pick: int | None  # 1, 2, or None (unparseable)
    how: str  # which rule decided (logged per sample)

    @property
    def first(self) -> float | None:
        """The outcome's `first`: 1.0 for candidate 1, 0.0 for candidate 2, None if unparseable."""
        return None if self.pick is None else (1.0 if self.pick == 1 else 0.0)


def _label_number(text: str) -> int | None:
    text = text.strip().strip("\"'`*.:")
    match = _LABEL.fullmatch(text) or (re.fullmatch(r"[12]", text) and re.match(r"([12])", text))
    return int(match.group(1)) if match else None


def _json_objects(text: str) -> Iterable[Any]:
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def _from_json(text: str) -> int | None:
    picks = []
    for obj in _json_objects(text):
        normalised = {re.sub(r"[\s_]+", " ", str(k)).strip().lower(): v for k, v in obj.items()}
        for key in _ANSWER_KEYS:
            value = normalised.get(key.replace("_", " "))
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                number = _label_number(str(value))
                if number is not None:
                    picks.append(number)
                    break
    return picks[-1] if picks else None


def parse_pairwise_answer(text: str | None) -> ParsedAnswer:
    """Which candidate a generative judge chose.

    Reasoning is read only after the last `</think>`; an unclosed `<think>` is unparseable
    (the answer was cut off). Then, in order: a JSON object with an answer key (code fences
    allowed), an explicit cue ("chosen action: Action2", "final answer is action_1"), the
    whole answer being one label ("Action 1", "action_2", "2"), or exactly one label named.
    Anything else is unparseable: counted, and scored wrong.
    """
    if text is None:
        return ParsedAnswer(None, "empty")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        return ParsedAnswer(None, "unclosed_think")
    text = text.strip()
    if not text:
        return ParsedAnswer(None, "empty")
    unfenced = "\n".join(_FENCE.findall(text)) or text
    number = _from_json(unfenced)
    if number is not None:
        return ParsedAnswer(number, "json")
    cues = _CUE.findall(text)
    if cues:
        return ParsedAnswer(_label_number(cues[-1]), "cue")
    number = _label_number(unfenced)
    if number is not None:
        return ParsedAnswer(number, "label")
    named = {int(m) for m in _LABEL.findall(text)}
    if len(named) == 1:
        return ParsedAnswer(named.pop(), "single_label")
    return ParsedAnswer(None, "ambiguous" if named else "no_label")


# ----------------------------------------------------------------------------- picks from scores


def first_from_scores(score_1: float, score_2: float) -> float | None:
    """Pointwise and likelihood protocols: higher wins, an exact tie is half a win each."""
    if any(s is None or (isinstance(s, float) and math.isnan(s)) for s in (score_1, score_2)):
        return None
    if score_1 == score_2:
        return 0.5
    return 1.0 if score_1 > score_2 else 0.0


def normalise_loglikelihood(loglikelihood: float, continuation: str, norm: str) -> float:
    """`none`: the summed log-likelihood (or a PRM score, as is); `char`: per character of the
    continuation (lm-eval's acc_norm idea), so longer actions are not penalised for length."""
    if norm == "none":
        return loglikelihood
    if norm == "char":
        return loglikelihood / max(len(continuation), 1)
    raise ValueError(f"unknown norm {norm!r}; expected 'none' or 'char'")


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: Sequence[tuple[str, float]]  # alternatives at this position (token, logprob)


def first_from_token_logprobs(tokens: Sequence[TokenLogprob], labels: tuple[str, str]) -> float | None:
    """Pairwise likelihood from a generated answer's top logprobs (chat models, Inspect).

    At the first position where an alternative token completes one of the two labels given
    the text generated so far, compare the best logprob completing label 1 with the best
    completing label 2 (a label absent from the top list counts as less likely than any
    listed). None when no position decides between the labels.
    """
    prefix = ""
    for position in tokens:
        best: dict[int, float] = {}
        for alt, logprob in [*position.top, (position.token, position.logprob)]:
            number = _completed_label(prefix + alt)
            if number is not None:
                best[number] = max(best.get(number, -math.inf), logprob)
        if best:
            return first_from_scores(best.get(1, -math.inf), best.get(2, -math.inf))
        prefix += position.token
    return None


def _completed_label(text: str) -> int | None:
    matches = list(_LABEL.finditer(text))
    match = matches[-1] if matches else None
    if match is None or match.end() != len(text.rstrip()):
        return None
    return int(match.group(1))


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class TrialOutcome:
    trial_id: str
    case_id: str
    subset: str
    cluster: str
    error_type: str
    chosen_position: int
    first: float
    parsed: float
    correct: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def outcome(meta: Mapping[str, Any], first: float | None) -> TrialOutcome:
    """Score one trial: `first` is the share of the pick on the first-shown candidate (None
    for an unparseable answer); `meta` carries the trial fields (Trial.metadata())."""
    parsed = first is not None
    first_value = float(first) if parsed else 0.0
    if not parsed:
        correct = 0.0
    elif int(meta["chosen_position"]) == 1:
        correct = first_value
    else:
        correct = 1.0 - first_value
    return TrialOutcome(
        trial_id=str(meta["trial_id"]), case_id=str(meta["case_id"]), subset=str(meta["subset"]),
        cluster=str(meta["cluster"]), error_type=str(meta["error_type"]),
        chosen_position=int(meta["chosen_position"]), first=first_value,
        parsed=1.0 if parsed else 0.0, correct=correct,
    )


# ----------------------------------------------------------------------------- metrics


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def cluster_robust_se(values: Sequence[float], clusters: Sequence[str]) -> float:
    """Standard error of the mean with clustered residuals (CR1 small-sample factor G/(G-1))."""
    n = len(values)
    if n == 0:
        return math.nan
    mean = sum(values) / n
    sums: dict[str, float] = {}
    for value, cluster in zip(values, clusters, strict=True):
        sums[cluster] = sums.get(cluster, 0.0) + (value - mean)
    groups = len(sums)
    if groups < 2:
        return math.nan
    return math.sqrt(groups / (groups - 1) * sum(s * s for s in sums.values())) / n


def consistency(outcomes: Sequence[TrialOutcome]) -> float:
    """Share of cases judged correctly in both orders (only cases seen in both count)."""
    by_case: dict[str, list[TrialOutcome]] = {}
    for o in outcomes:
        by_case.setdefault(o.case_id, []).append(o)
    both = [trials for trials in by_case.values() if {t.chosen_position for t in trials} == {1, 2}]
    return _mean([1.0 if all(t.correct == 1.0 for t in trials) else 0.0 for trials in both])


def aggregate(outcomes: Iterable[TrialOutcome]) -> dict[str, float]:
    """Every metric of METRICS for one set of trials (NaN where a metric has no data)."""
    outcomes = list(outcomes)
    correct = [o.correct for o in outcomes]
    parsed_total = sum(o.parsed for o in outcomes)
    result = {
        "acc": _mean(correct),
        "acc_cluster_se": cluster_robust_se(correct, [o.cluster for o in outcomes]),
        "consistency": consistency(outcomes),
        "first_rate": sum(o.first for o in outcomes) / parsed_total if parsed_total else math.nan,
        "parse_fail": _mean([1.0 - o.parsed for o in outcomes]),
    }
    for slug in ERROR_TYPE_SLUGS:
        result[f"acc_{slug}"] = _mean([o.correct for o in outcomes if o.error_type == slug])
    return result


def truncated_share(flags: Sequence[bool | None]) -> float:
    """Share of trials whose history a scoring engine shortened to fit the model's context;
    NaN when a backend did not say (a flag is None), never a guessed 0."""
    if not flags or any(flag is None for flag in flags):
        return math.nan
    return sum(1.0 for flag in flags if flag) / len(flags)
