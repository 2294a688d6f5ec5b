"""A policy's answer as an action (a call, a reply, or no action), and merging equivalent ones.

The action format is the rebuild's policy prompt (`rebuild.policy`), and so is the reader:
`parse_answer` is `rebuild.policy.read_answer` (one tool call `{"name", "parameters"}`, a
plain-text reply, or an `invalid` action with the reason), so the search and the build read
a policy's answers alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolprm_tasks.rebuild.points import equivalent
from toolprm_tasks.rebuild.policy import CALL, INVALID, REPLY, Action, read_answer

__all__ = ["CALL", "INVALID", "REPLY", "Action", "Candidate", "merge", "parse_answer", "same_step"]

parse_answer = read_answer  # one policy answer as an action (the search's name for it)


@dataclass
class Candidate:
    """A distinct action among the step's samples, with the samples merged into it."""

    action: Action
    samples: list[int] = field(default_factory=list)  # indices into the step's samples

    @property
    def count(self) -> int:
        return len(self.samples)


def same_step(a: Action, b: Action, functions: Any) -> bool:
    """The rebuild's equivalence rule (same tool and key arguments; two replies are one step);
    invalid answers form one class of their own."""
    if a.kind != b.kind:
        return False
    if a.kind == CALL:
        return equivalent(a.value, b.value, functions)
    return True


def merge(actions: list[Action], functions: Any) -> list[Candidate]:
    """Distinct candidates in order of first appearance; each keeps the samples it merged (its
    count). The representative (the one executed) is the first sample of its class."""
    candidates: list[Candidate] = []
    for index, action in enumerate(actions):
        for candidate in candidates:
            if same_step(candidate.action, action, functions):
                candidate.samples.append(index)
                break
        else:
            candidates.append(Candidate(action, [index]))
    return candidates
