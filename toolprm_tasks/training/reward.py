"""The GRPO reward of ToolPRM (paper, appendix B), with TRL's reward-function signature.

The paper's reward: 1.0 if the correct answer appears after the `</think>` token, else 0.0.
Here the judge's answer is read by the project's one conservative parser
(`scorers.core.parse_pairwise_answer`): the text after the last `</think>` (the whole text
when no reasoning block was opened; an unclosed `<think>` is a parse failure), which must
state one choice (`action_1` / `action_2`, the ToolPRM prompt's labels, are read as labels).
A parse failure (no label, both labels, a contradiction, a cut-off reasoning block) earns no
reward, 0.0, exactly as it counts wrong at evaluation time: GRPO cannot learn to game the
parser with an answer the benchmark would not accept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from scorers.core import parse_pairwise_answer
from toolprm_tasks.prompts import pairwise_prompt

LABELS: tuple[str, str] = pairwise_prompt("toolprm").labels  # ("action_1", "action_2")


def completion_text(completion: Any) -> str | None:
    """A completion's text: a string (standard format), or the last message's content of a
    conversational completion (a list of messages); None for anything else."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion:
        last = completion[-1]
        content = last.get("content") if isinstance(last, dict) else None
        return content if isinstance(content, str) else None
    return None


def _expected(answer: Any, index: int) -> int:
    """The position (1 or 2) a label column names; a bad column is a data error, not the model's."""
    if answer in LABELS:
        return LABELS.index(answer) + 1
    if answer in (1, 2) and not isinstance(answer, bool):
        return int(answer)
    raise ValueError(f"reward column `answer` of completion {index}: expected one of {LABELS}, got {answer!r}")


def toolprm_reward(prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None,
                   completion_ids: Sequence[Any] | None = None, trainer_state: Any = None, *,
                   answer: Sequence[Any] | None = None, log_metric: Callable[[str, float], None] | None = None,
                   **dataset_columns: Any) -> list[float | None]:
    """1.0 where the parsed answer names the correct action, 0.0 otherwise (parse failures
    included). `answer` is the dataset's label column (`action_1` / `action_2`, as the `grpo`
    export writes it); TRL passes it with the other columns. Logs the share of parse failures
    as `parse_fail` where TRL offers `log_metric`."""
    if completions is None or answer is None:
        raise ValueError("toolprm_reward needs `completions` and the dataset column `answer` (export --format grpo)")
    if len(answer) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(answer)} answers")
    rewards: list[float | None] = []
    failures = 0
    for index, (completion, label) in enumerate(zip(completions, answer, strict=True)):
        expected = _expected(label, index)
        pick = parse_pairwise_answer(completion_text(completion)).pick
        failures += pick is None
        rewards.append(1.0 if pick == expected else 0.0)
    if callable(log_metric) and rewards:
        log_metric("parse_fail", failures / len(rewards))
    return rewards
