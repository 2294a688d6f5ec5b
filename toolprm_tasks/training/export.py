"""TRL's dataset formats, written with `datasets` (`toolprmbench export`).

- `reward`: conversational preference pairs for RewardTrainer, explicit prompt: `prompt` is
  the context as one user turn, `chosen` / `rejected` each action as the assistant reply.
  These are exactly the messages the `classifier` engine kind scores at evaluation time
  (`engines.base.messages_for`), so the chat template turns them into the same text.
- `grpo`: prompt-only rows for GRPOTrainer: the paper's ToolPRM prompt (`prompts.py`) with
  the candidates in a seeded order (`trials.build_trials`, half the cases chosen-first per
  source), and the label columns the reward function reads: `answer` (`action_1` or
  `action_2`, the prompt's own labels) and `chosen_position`.
- `sft`: the same prompts with the answer as the assistant reply: the paper's ToolPRM-CoT JSON
  `{"rationale": ..., "winning_action": ...}` where the record has a rationale, the bare label
  (ToolPRM-Base) where it has none.

Every row carries `case_id`, `subset`, `cluster` and `error_type`. A case that cannot be a
training example (chosen and rejected are the same action as the loader compares them, or
render to the same text: no preference exists) is left out and counted in the export's report,
never dropped silently. A case that repeats an earlier one (the loader's duplicate warning) is
kept, as the data has it, and counted (`duplicates`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolprm_tasks.core.cases import Case, action_key
from toolprm_tasks.core.prompts import pairwise_prompt
from toolprm_tasks.core.render import render_action
from toolprm_tasks.core.trials import DEFAULT_SEED, build_trials
from toolprm_tasks.engines.base import PromptFormat, ScoreRequest, messages_for

FORMATS: tuple[str, ...] = ("reward", "grpo", "sft")
GRPO_PROMPT = "toolprm"  # the paper's ToolPRM-Base / ToolPRM-GRPO prompt
REPORT_NAME = "toolprm_export.json"
IDENTICAL = "chosen_and_rejected_identical"  # the reason a case without a preference is left out


@dataclass
class Rows:
    """The rows of one export and the cases left out, with the reason for each."""

    format: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> case ids
    duplicates: dict[str, str] = field(default_factory=dict)  # case id -> the earlier case it repeats (kept)

    def skip(self, reason: str, case: Case) -> None:
        self.skipped.setdefault(reason, []).append(case.id)

    def summary(self) -> dict[str, Any]:
        return {"format": self.format, "rows": len(self.rows),
                "rows_per_subset": dict(sorted(Counter(r["subset"] for r in self.rows).items())),
                "skipped": {reason: {"count": len(ids), "cases": ids} for reason, ids in self.skipped.items()},
                "duplicates": {"count": len(self.duplicates), "cases": self.duplicates}}


def _columns(case: Case) -> dict[str, Any]:
    return {"case_id": case.id, "subset": case.subset, "cluster": case.cluster, "error_type": case.error_type}


def classifier_messages(case: Case, candidate: Any, history: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """The conversation the `classifier` kind scores for one candidate (optionally with a
    shortened history): the engines' own function, so training sees the evaluation text."""
    history = case.history if history is None else history
    return messages_for("classifier", ScoreRequest(case.history, case.functions, candidate), history, PromptFormat())


def identical_actions(case: Case) -> bool:
    """No preference: the same action as the loader compares them (`action_key`: any key order,
    a call as an object or as its string), or the same text once rendered."""
    return action_key(case.chosen) == action_key(case.rejected) \
        or render_action(case.chosen) == render_action(case.rejected)


def _case_key(case: Case) -> str:
    """The loader's duplicate test (`core.cases.record_warnings`): history, functions, both actions."""
    try:
        context = json.dumps([case.history, case.functions], sort_keys=True, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        context = repr([case.history, case.functions])
    return json.dumps([case.subset, context, action_key(case.chosen), action_key(case.rejected)], ensure_ascii=False)


def _kept(cases: Sequence[Case], out: Rows) -> list[Case]:
    """The cases with a preference (the rest skipped, counted); repeats are kept and counted."""
    kept, seen = [], {}
    for case in cases:
        if identical_actions(case):
            out.skip(IDENTICAL, case)
            continue
        first = seen.setdefault(_case_key(case), case.id)
        if first != case.id:
            out.duplicates[case.id] = first
        kept.append(case)
    return kept


def reward_rows(cases: Sequence[Case]) -> Rows:
    out = Rows("reward")
    for case in _kept(cases, out):
        chosen, rejected = classifier_messages(case, case.chosen), classifier_messages(case, case.rejected)
        out.rows.append({"prompt": chosen[:1], "chosen": chosen[1:], "rejected": rejected[1:], **_columns(case)})
    return out


def _prompt_rows(cases: Sequence[Case], seed: int, kind: str) -> Rows:
    out = Rows(kind)
    labels = pairwise_prompt(GRPO_PROMPT).labels
    for trial in build_trials(_kept(cases, out), order="seeded", seed=seed):
        answer = labels[trial.chosen_position - 1]
        row = {"prompt": [{"role": "user", "content": trial.pairwise_text(GRPO_PROMPT)}], "answer": answer,
               "chosen_position": trial.chosen_position, **_columns(trial.case)}
        if kind == "sft":
            rationale = trial.case.provenance.get("rationale")
            has_rationale = isinstance(rationale, str) and bool(rationale.strip())
            text = json.dumps({"rationale": rationale, "winning_action": answer}, ensure_ascii=False) \
                if has_rationale else answer
            row["completion"] = [{"role": "assistant", "content": text}]
            row["has_rationale"] = has_rationale
        out.rows.append(row)
    return out


def grpo_rows(cases: Sequence[Case], seed: int = DEFAULT_SEED) -> Rows:
    return _prompt_rows(cases, seed, "grpo")


def sft_rows(cases: Sequence[Case], seed: int = DEFAULT_SEED) -> Rows:
    return _prompt_rows(cases, seed, "sft")


def build_rows(fmt: str, cases: Sequence[Case], seed: int = DEFAULT_SEED) -> Rows:
    if fmt == "reward":
        return reward_rows(cases)
    if fmt == "grpo":
        return grpo_rows(cases, seed)
    if fmt == "sft":
        return sft_rows(cases, seed)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


class ExportError(RuntimeError):
    """An export that cannot be written (an occupied output folder, nothing to export)."""


def write_dataset(rows: Rows, out: Path, provenance: dict[str, Any]) -> Path:
    """`datasets.Dataset.save_to_disk` into `out` (load it with `datasets.load_from_disk`),
    with `toolprm_export.json` beside: counts, the cases left out and why, the data's
    fingerprint. Written into a temporary folder and renamed: an interrupted export leaves no
    half-written dataset. An existing non-empty `out` is refused, never overwritten."""
    from datasets import Dataset

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: exists and is not an empty folder; choose a new --out")
    if not rows.rows:
        raise ExportError(f"nothing to export: every case was left out ({rows.summary()['skipped']})")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        Dataset.from_list(rows.rows).save_to_disk(str(tmp / "data"))
        for item in (tmp / "data").iterdir():
            os.replace(item, tmp / item.name)
        (tmp / "data").rmdir()
        report = {**rows.summary(), **provenance}
        (tmp / REPORT_NAME).write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
