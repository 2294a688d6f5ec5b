"""The normalised run record every reader produces, and the flags the honesty rules attach.

A `Run` is one framework run of one judge on one or more subsets. Numbers are fractions
(0..1) exactly as the framework reported them; `sources` says, per number, whether it is the
framework's own metric or recomputed from the logged samples with `scorers.core`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scorers.core import TrialOutcome

FRAMEWORK_METRIC = "framework"  # read from the results file / log as the framework reported it
RECOMPUTED = "recomputed from samples (scorers.core)"
DERIVED = "derived"  # arithmetic on framework numbers, named where used

# Flags: key -> what the tables say. Every table and plot a flagged row appears in shows them.
FLAGS: dict[str, str] = {
    "unpinned": "data differs from the pinned release (TOOLPRMBENCH_ALLOW_UNPINNED)",
    "limit": "not every trial ran (--limit, sample ids, or an unfinished run)",
    "partial": "not every subset of the data set: no AVG",
    "truncated": "some histories were shortened to fit the model's context",
    "truncation-unknown": "the backend did not say whether it shortened histories (lm-eval's hf backend cuts "
                          "long prompts from the left without saying so)",
    "data-unknown": "data fingerprint unknown (lm-eval run without --log_samples)",
    "old-version": "written by an older task version (scoring changed since: CHANGELOG.md)",
    "epochs": "Inspect --epochs N: each trial ran N times, counted once with Inspect's epoch-reduced score",
}


# backends with no context limit: nothing to shorten, so no flag when they do not report truncation
NO_CONTEXT_LIMIT = frozenset({"toolprm-baseline"})


class ReportError(ValueError):
    """An input the report cannot use; the message names the file (and record) and the cause."""


class ForeignInput(ReportError):
    """A readable results file or log of some other task: an error when named on the command
    line, listed as not read when found in a folder."""


@dataclass
class SubsetResult:
    acc: float
    trials: int
    se: float | None = None  # cluster-robust SE of acc
    se_source: str = FRAMEWORK_METRIC
    sha256: str | None = None  # the data file's digest; None when the run does not say
    unpinned: bool | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # the framework's per-subset metrics


@dataclass
class Run:
    path: str  # the results file or log (lm-eval: results_*.json)
    framework: str  # "lm-eval" or "inspect"
    model: str  # what was judged: a model name, a baseline judge
    backend: str  # lm-eval --model / Inspect provider
    protocol: str
    prompt: str
    order: str
    seed: int | None
    data_kind: str  # "official" or "rebuilt"
    task_version: str
    subsets: dict[str, SubsetResult]
    model_args: str = ""  # the other model arguments ("k=v,..."): part of the judge's identity
    avg: float | None = None  # the framework's AVG (unweighted mean over the subsets)
    pooled: dict[str, float] = field(default_factory=dict)  # over all trials of the run
    pooled_sources: dict[str, str] = field(default_factory=dict)
    outcomes: list[TrialOutcome] | None = None  # per trial, when samples were logged
    flags: set[str] = field(default_factory=set)
    seconds: float | None = None
    tokens: int | None = None
    started: str = ""
    notes: list[str] = field(default_factory=list)
    command: str = ""  # the framework command that reproduces this run (output location left open)
    tier: str = "all"  # rebuilt data: "hard" for the hard tier's tasks (their own section, never mixed)
    made_with: dict[str, str] = field(default_factory=dict)  # package -> version, as the run records it

    @property
    def section(self) -> str:
        """The report section (and leaderboard) the run belongs to: its data kind, and the rebuilt
        hard tier apart (other cases, other numbers)."""
        return "rebuilt_hard" if self.data_kind == "rebuilt" and self.tier == "hard" else self.data_kind

    @property
    def trials(self) -> int:
        return sum(s.trials for s in self.subsets.values())

    def cases(self) -> int | None:
        if self.outcomes is not None:
            return len({o.case_id for o in self.outcomes})
        if self.order != "both":
            return self.trials
        return None


def finite(value: Any) -> float | None:
    """A metric as a float, or None for NaN/absent/non-numbers (lm-eval writes "N/A")."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value
