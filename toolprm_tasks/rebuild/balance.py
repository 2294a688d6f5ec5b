"""Cases whose candidates follow one distribution on both sides: each token of a rendered
action (a tool name, a value, a reply's word, and its shape: call or reply, length, argument
count, question) about as often on the rejected side of a set as on the chosen side.

The operators propose wrong actions made of the conversation's own tools, values and words,
and a slot may be filled from several points of its conversation. Each slot collects a few
cases that pass the execution check (of the label it was given, the operators' best
priority); `choose` then picks one per slot so that the set's tokens are as even as it can
make them: it starts from each slot's first case and revisits the slots in order, a few
rounds, each time taking the case that most lowers the imbalance (the sum over tokens of the
squared difference between their chosen-side and rejected-side counts). A value, tool or
word that is right in many cases is then wrong in many others, and a model that sees the
candidates without the history cannot learn which tokens mark the wrong side. Every candidate
is a valid case by construction: the choice picks among them, nothing is dropped, and
nothing here reads a model's answer. Deterministic: ties keep the first.

Two features are not tokens but sides, each a whole weight-free judge's reading of a case,
weighed as several tokens: which side renders longer (`longer`; a source's LENGTH_SIDES rule)
and, from build 12, which side the history grounds better (`grounding`: the share of its values
and words the history holds; GROUNDED_SIDES), counted per split, error type and tier, the groups
the audit reads. Evening them out leaves "the longer one" and "the one made of the history's
words" to chance where a slot has a choice; it picks among valid cases, as for tokens.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from toolprm_tasks.audit import candidate_text
from toolprm_tasks.audit import tokens as audit_tokens
from toolprm_tasks.core.grounding import HistoryText, grounding_score

ROUNDS = 4


def tokens(action: Any) -> frozenset[str]:
    """The tokens the artifact audit reads of a candidate (its rendering's words, numbers and
    punctuation, and their bigrams) and its shape, once each."""
    text = candidate_text(action)
    words = audit_tokens(text)
    shape = ["<reply>" if isinstance(action, str) else "<call>", f"<length {int(math.log2(len(text) + 1))}>",
             f"<args {len(action.get('parameters') or {})}>" if isinstance(action, dict) else "<args none>",
             "<question>" if text.rstrip().endswith("?") else "<statement>"]
    return frozenset([*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False)), *shape])


LONGER_SIDE = "<longer side>"
# A token of its own counts as much as one word; which side is longer is one feature that a
# whole judge ("prefer the longer") reads, so it weighs as this many tokens.
SIDE_WEIGHT = 4


def _signed(rejected: Any, chosen: Any, sided: bool = False) -> dict[str, int]:
    """A case's contribution to chosen-minus-rejected counts (shared tokens cancel); `sided`:
    also which side renders longer (+1 the chosen, -1 the rejected, nothing for a tie)."""
    mine, theirs = tokens(rejected), tokens(chosen)
    signed = {**{t: 1 for t in theirs - mine}, **{t: -1 for t in mine - theirs}}
    if sided:
        gap = len(candidate_text(chosen)) - len(candidate_text(rejected))
        if gap:
            signed.update({f"{LONGER_SIDE} {k}": 1 if gap > 0 else -1 for k in range(SIDE_WEIGHT)})
    return signed


GROUNDED_SIDE = "<grounded side>"
# Weighed as two tokens: enough to even the groups out where a slot has a choice (BFCL's hard
# should-chat cases, 67.8% for the grounding judge in build 11, 62.3% with it); at 4 or 8 the
# token balance, which the candidate probes read, gives way (candidate-pair 60.4-60.7% on BFCL's
# hard tier, over the audit's 60%). Measured at 1, 2, 3, 4 and 8 (docs/rebuild.md, build 12).
GROUNDED_WEIGHT = 2


def grounded_side(rejected: Any, chosen: Any, history: HistoryText, group: str) -> dict[str, int]:
    """Which side of a case the history grounds better, as signed features of `group` (+1 the
    chosen, -1 the rejected, nothing for a tie): the grounding judge's pick, weighed as
    GROUNDED_WEIGHT tokens."""
    gap = grounding_score(chosen, history) - grounding_score(rejected, history)
    if not gap:
        return {}
    return {f"{GROUNDED_SIDE} {group} {k}": 1 if gap > 0 else -1 for k in range(GROUNDED_WEIGHT)}


def choose(cases: Sequence[Sequence[tuple[Any, Any]]], keys: Sequence[Sequence[str]],
           sided: Sequence[bool] | None = None,
           features: Sequence[Sequence[dict[str, int]]] | None = None) -> list[int | None]:
    """For each slot's candidate cases ((rejected, chosen) pairs; `keys` name them, the same
    case twice is one case), the index of the one chosen; None for a slot without one.
    `sided[i]`: slot i also evens out which side is the longer (a source's LENGTH_SIDES rule:
    a length bucket per side leaves "the right one is the longer" to chance). `features[i][j]`:
    more signed features of slot i's case j (`grounded_side`), evened out with the tokens."""
    if sided is None:
        sided = [False] * len(cases)
    elif len(sided) != len(cases):
        raise ValueError(f"sided has {len(sided)} entries for {len(cases)} slots")
    if features is not None and [len(f) for f in features] != [len(slot) for slot in cases]:
        raise ValueError("features must give one mapping per case of every slot")
    signed = [[{**_signed(r, c, sided[i]), **(features[i][j] if features is not None else {})}
               for j, (r, c) in enumerate(slot)] for i, slot in enumerate(cases)]
    pick: list[int | None] = [0 if slot else None for slot in cases]
    used: Counter[str] = Counter()
    balance: Counter[str] = Counter()
    for i, choice in enumerate(pick):  # the first case of each slot that no earlier slot took
        if choice is None:
            continue
        free = [j for j, key in enumerate(keys[i]) if not used[key]]
        pick[i] = free[0] if free else None
        if pick[i] is not None:
            used[keys[i][pick[i]]] += 1
            balance.update(signed[i][pick[i]])
    for _ in range(ROUNDS):
        changed = False
        for i, choice in enumerate(pick):
            if choice is None or len(signed[i]) < 2:
                continue
            for token, sign in signed[i][choice].items():  # take the slot's case out
                balance[token] -= sign
            used[keys[i][choice]] -= 1

            def cost(j: int, i: int = i) -> int:  # the change in the sum of squares the case makes
                return sum(2 * balance[t] * s + 1 for t, s in signed[i][j].items())

            options = [j for j in range(len(signed[i])) if not used[keys[i][j]]]
            best = min(options, key=lambda j: (cost(j), j))
            changed = changed or best != choice
            pick[i] = best
            used[keys[i][best]] += 1
            for token, sign in signed[i][best].items():
                balance[token] += sign
        if not changed:
            break
    return pick
