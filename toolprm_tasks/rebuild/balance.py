"""Cases whose candidates follow one distribution on both sides: each token of a rendered
action (a tool name, a value, a reply's word) about as often on the rejected side of a set as
on the chosen side.

The operators propose wrong actions made of the conversation's own tools, values and words,
and a slot may be filled from several points of its conversation. Which of a slot's options
(points of the label it was given) and which of a point's proposals (of its error type) the
builder tries first is ordered here: the case whose tokens that only one candidate has are,
on that candidate's side, the rarer ones in the set so far. A value, tool or word that is
right in many cases is then wrong in many others, and a model that sees the candidates
without the history cannot learn which tokens mark the wrong side. Every option and every
proposal is a valid case by construction: the order picks among them, nothing is dropped,
and nothing here reads a judge's answer or the history.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from toolprm_tasks.audit import candidate_text
from toolprm_tasks.audit import tokens as audit_tokens


def tokens(action: Any) -> frozenset[str]:
    """The tokens the artifact audit reads of a candidate (its rendering's words, numbers and
    punctuation) and their bigrams, once each."""
    words = audit_tokens(candidate_text(action))
    return frozenset([*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))])


class Balance:
    """Token counts of the chosen and the rejected candidates of the cases made so far."""

    def __init__(self) -> None:
        self.chosen: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def deficit(self, rejected: Any, chosen: Any) -> float:
        """How much a case evens the two sides out: over the tokens only one of its candidates
        has, the mean of how much rarer each is on that candidate's side so far."""
        mine, theirs = tokens(rejected), tokens(chosen)
        only_rejected, only_chosen = mine - theirs, theirs - mine
        total = sum(self.chosen[t] - self.rejected[t] for t in only_rejected)
        total += sum(self.rejected[t] - self.chosen[t] for t in only_chosen)
        return total / max(len(only_rejected) + len(only_chosen), 1)

    def order(self, proposals: list[Any], gold: Any) -> list[Any]:
        """The proposals, the error types in their given order, within a type by the operators'
        priority, then the largest deficit first (ties: the operators' seeded order)."""
        rank: dict[str, int] = {}
        for proposal in proposals:
            rank.setdefault(proposal.error_type, len(rank))
        keyed = [(rank[p.error_type], p.priority, -self.deficit(p.action, gold), i) for i, p in enumerate(proposals)]
        return [proposals[i] for *_, i in sorted(keyed)]

    def add(self, rejected: Any, chosen: Any) -> None:
        self.rejected.update(tokens(rejected))
        self.chosen.update(tokens(chosen))
