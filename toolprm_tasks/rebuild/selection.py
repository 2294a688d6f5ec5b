"""Which decision points become cases, with which error type: one rule for every source.

The test split balances the paper's four error types, each a quarter of the slots, and the
replies on both sides of call-against-reply cases: the reasons a reply is due that the
source has (a report of results, a question for a missing value, a withheld tool) share the
should-chat quarter evenly, and the wrong replies of the should-call quarter take the same
intents in the same shares (results reported too early, a question a tool would answer, a
false "no tool"), so a reply's kind says nothing about its label. Labels are dealt to
conversation slots scarcest first (the label fewest conversations can take goes first),
each to a conversation that has a point for it; a call point is then chosen among those
where an operator that needs the history applies (`operators.fit`). The training split
takes several points of each conversation, one per error type where it can. Every slot
carries fallbacks (other points, other types), so that a conversation whose first choice
fails the execution check still keeps a case.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.rebuild.operators import (
    CALL_ERROR_TYPES,
    NAMED_FIRST,
    SHIFT_QUOTAS,
    SHOULD_CALL,
    SHOULD_CHAT,
    WRONG_PARAMS,
    WRONG_TOOL,
    fit,
    named_call,
    should_chat,
)
from toolprm_tasks.rebuild.points import DecisionPoint

TRAIN_POINTS = 4  # points per training conversation (one per error type where it can)

# (error type, reason): the reason of a reply point's reply, or the intent of a should-call
# case's wrong reply; None for the call-against-call types
Label = tuple[str, str | None]


@dataclass(frozen=True)
class Slot:
    """One case to make: the conversation and its options, the first one preferred."""

    conversation: Any
    options: tuple[tuple[DecisionPoint, str], ...]


_FITS: dict[tuple[int, str, str | None], tuple[DecisionPoint, int]] = {}


def _fit(point: DecisionPoint, error_type: str, intent: str | None = None) -> int:
    """`operators.fit`, once per point, type and intent (the point is kept with it, so its id
    is not reused while cached)."""
    key = (id(point), error_type, intent)
    hit = _FITS.get(key)
    if hit is None or hit[0] is not point:
        if len(_FITS) > 100_000:
            _FITS.clear()
        hit = _FITS[key] = (point, fit(point, error_type, intent))
    return hit[1]


def _chat_ready(point: DecisionPoint) -> int:
    """A reply point that some wrong call fits (the operators need what its reason provides):
    0 none, 1 some, 2 one made of the history's words where the source takes NAMED_FIRST;
    worked out once per point, like `_fit`."""
    if not point.is_chat:
        return 0
    key = (id(point), SHOULD_CHAT, None)
    hit = _FITS.get(key)
    if hit is None or hit[0] is not point:
        if len(_FITS) > 100_000:
            _FITS.clear()
        proposals = should_chat(point, random.Random(0))
        level = int(bool(proposals))
        if proposals and NAMED_FIRST in point.rules and any(named_call(point, p.action) for p in proposals):
            level = 2  # a wrong call made of the history's words (`operators.NAMED_FIRST`)
        hit = _FITS[key] = (point, level)
    return hit[1]


def _ranked(points: Sequence[DecisionPoint], label: Label, rng: random.Random) -> list[tuple[DecisionPoint, str]]:
    """The points that can take a label, best first (seeded order among equals), with the
    should-call intent set on the point."""
    error_type, reason = label
    if error_type == SHOULD_CHAT:
        chats = [p for p in points if _chat_ready(p)]
        rng.shuffle(chats)
        chats.sort(key=lambda p: (p.reply_kind != reason, -_chat_ready(p)))  # the wanted reason first
        return [(p, SHOULD_CHAT) for p in chats]
    keyed = []
    for point in points:
        if point.is_chat:
            continue
        score = _fit(point, error_type, reason)
        if score > 0 and not (error_type == SHOULD_CALL and reason is not None and score < 2):
            keyed.append((-score, rng.random(), point.step, point))
    ranked = [p for *_, p in sorted(keyed, key=lambda k: k[:3])]
    if error_type == SHOULD_CALL and reason is not None:
        ranked = [replace(p, wrong_reply_intent=reason) for p in ranked]
    return [(p, error_type) for p in ranked]


def _eligible(points: Sequence[DecisionPoint], label: Label) -> bool:
    """Whether a conversation has a point for the label itself (not only a fallback)."""
    error_type, reason = label
    if error_type == SHOULD_CHAT:
        return any(p.reply_kind == reason and _chat_ready(p) for p in points)
    if error_type == SHOULD_CALL:
        return any(not p.is_chat and _fit(p, error_type, reason) == 2 for p in points)
    return any(not p.is_chat and _fit(p, error_type) > 0 for p in points)


def _options(points: Sequence[DecisionPoint], label: Label, rng: random.Random,
             kinds: Sequence[str]) -> list[tuple[DecisionPoint, str]]:
    """The label's points first, then the fallbacks: the same type's other reasons, the
    call-against-call types, and the other reply-against-call type last (a reply case replaced
    by its mirror type would unbalance calls against replies); a call-against-call slot falls
    back to reply types last of all."""
    out = _ranked(points, label, rng)
    order = [lb for lb in _labels(kinds) if lb != label]
    # a call-against-call slot turns into a reply case only as the very last resort (a
    # conversation must keep a case)
    calls = label[0] in (WRONG_PARAMS, WRONG_TOOL)
    order.sort(key=lambda lb: 0 if lb[0] == label[0] else 1 if lb[0] in (WRONG_PARAMS, WRONG_TOOL) else
               (3 if calls else 2))
    for other in order:
        out += _ranked(points, other, rng)
    return out


def _labels(kinds: Sequence[str]) -> list[Label]:
    return [*[(SHOULD_CHAT, k) for k in kinds], *[(SHOULD_CALL, k) for k in kinds],
            (WRONG_PARAMS, None), (WRONG_TOOL, None)]


def _quotas(total: int, kinds: Sequence[str]) -> dict[Label, int]:
    """Every error type a quarter of `total`; the two reply types split evenly over `kinds`."""
    quarter = total // 4
    quota: dict[Label, int] = {}
    for error_type in (SHOULD_CHAT, SHOULD_CALL):
        for i, kind in enumerate(kinds):
            quota[(error_type, kind)] = quarter // len(kinds) + (1 if i < quarter % len(kinds) else 0)
    quota[(WRONG_PARAMS, None)] = quarter
    quota[(WRONG_TOOL, None)] = total - sum(quota.values())
    return quota


def select_test(conversations: Sequence[Any], points: dict[str, list[DecisionPoint]], seed: int, source: str,
                conversation_id: Callable[[Any], str], kinds: Sequence[str],
                slots_per_conversation: int = 1) -> list[Slot]:
    """The test split's slots (see the module docstring). `kinds`: the reasons for a reply
    the source has."""
    rng = random.Random(seeded_key(seed, f"{source}/select"))
    ids = [conversation_id(c) for c in conversations]
    slots = [(cid, n) for cid in ids for n in range(slots_per_conversation)]
    quota = _quotas(len(slots), kinds)
    eligible: dict[Label, set[str]] = {label: set() for label in quota}
    for cid in ids:  # conversation by conversation: the operators' caches serve its points' labels
        for label in quota:
            if _eligible(points[cid], label):
                eligible[label].add(cid)
    rules = frozenset().union(*(p.rules for cid in ids for p in points[cid]))
    if SHIFT_QUOTAS in rules:
        _shift_quotas(quota, {label: _capacity(points, eligible[label], label) for label in quota})
    given: dict[tuple[str, int], Label] = {}
    labels_of: dict[str, set[Label]] = {cid: set() for cid in ids}
    # scarcest first: the label the fewest conversations can take, relative to its quota
    order = sorted(quota, key=lambda lb: (len(eligible[lb]) / max(quota[lb], 1), _labels(kinds).index(lb)))
    for i, label in enumerate(order):
        free = [slot for slot in slots if slot not in given and slot[0] in eligible[label]
                and label not in labels_of[slot[0]]]
        rng.shuffle(free)
        if NAMED_FIRST in rules:
            # conversations with a wrong call made of the history's words first; among equals, those
            # that can take fewest other labels (a conversation left with none of its labels would
            # fall back to another type), then those that have a named one for a label still to
            # come last (they are kept for it)
            free.sort(key=lambda slot, later=order[i + 1:]: (
                -_level(points[slot[0]], label), sum(slot[0] in eligible[lb] for lb in later),
                sum(_bonus(points[slot[0]], lb) for lb in later)))
        taken: set[str] = set()
        for slot in free:
            if quota[label] <= 0:
                break
            if slot[0] in taken:
                continue
            given[slot] = label
            labels_of[slot[0]].add(label)
            taken.add(slot[0])
            quota[label] -= 1
    if SHIFT_QUOTAS in rules:
        # quotas one slot per conversation could not fill: a conversation with another point for
        # the label takes it again (the options then start at its next point)
        for label in sorted(quota, key=_labels(kinds).index):
            free = [slot for slot in slots if slot not in given and slot[0] in eligible[label]]
            rng.shuffle(free)
            for slot in free:
                if quota[label] <= 0:
                    break
                uses = sum(1 for (cid, _), lb in given.items() if cid == slot[0] and lb == label)
                if uses < _points_for(points[slot[0]], label):
                    given[slot] = label
                    quota[label] -= 1
    leftover = [slot for slot in slots if slot not in given]
    rng.shuffle(leftover)
    for slot in leftover:  # quotas no conversation could fill: the call-against-call labels
        short = [lb for lb in ((WRONG_PARAMS, None), (WRONG_TOOL, None)) if quota[lb] > 0] or [(WRONG_TOOL, None)]
        given[slot] = short[0]
        quota[short[0]] -= 1
    _mirror(given, kinds, rng)
    out = []
    for conversation, cid in zip(conversations, ids, strict=True):
        pick = random.Random(seeded_key(seed, f"{source}/{cid}"))
        used: set[int] = set()
        # reply-against-call labels first: their points are the scarce ones of a conversation
        order = sorted(range(slots_per_conversation), key=lambda n: given[(cid, n)][1] is None)
        for rank, n in enumerate(order):
            label = given[(cid, n)]
            options = [(p, e) for p, e in _options(points[cid], label, pick, kinds) if p.step not in used]
            if rank and label[0] in (WRONG_PARAMS, WRONG_TOOL):  # the last resort is for a first slot only
                options = [(p, e) for p, e in options if e in (WRONG_PARAMS, WRONG_TOOL)]
            if options:
                used.add(options[0][0].step)
                out.append(Slot(conversation, tuple(options)))
    return out


def _points_for(points: Sequence[DecisionPoint], label: Label) -> int:
    """How many of a conversation's points can take the label itself."""
    error_type, reason = label
    if error_type == SHOULD_CHAT:
        return sum(1 for p in points if p.reply_kind == reason and _chat_ready(p))
    if error_type == SHOULD_CALL:
        return sum(1 for p in points if not p.is_chat and _fit(p, error_type, reason) == 2)
    return sum(1 for p in points if not p.is_chat and _fit(p, error_type) > 0)


def _capacity(points: dict[str, list[DecisionPoint]], eligible: set[str], label: Label) -> int:
    return sum(_points_for(points[cid], label) for cid in eligible)


def _level(points: Sequence[DecisionPoint], label: Label) -> int:
    """How well a conversation's best point takes a label under NAMED_FIRST and LENGTH_MATCHED
    (`_chat_ready`, `operators.fit`); 0 for the other labels."""
    error_type, reason = label
    if error_type == SHOULD_CHAT:
        return max((_chat_ready(p) for p in points if p.reply_kind == reason), default=0)
    if error_type == WRONG_TOOL:
        return max((_fit(p, error_type) for p in points if not p.is_chat), default=0)
    return 0


def _bonus(points: Sequence[DecisionPoint], label: Label) -> int:
    """How much better than plain a conversation's best point takes the label (`_level`)."""
    level = _level(points, label)
    return max(level - (1 if label[0] == SHOULD_CHAT else 2), 0) if level else 0


def _shift_quotas(quota: dict[Label, int], capacity: dict[Label, int]) -> None:
    """SHIFT_QUOTAS: a reply reason's quota that its points cannot fill goes to the next reasons
    (in the source's order) that have points to spare (ToolTalk has few questions and many
    reports and withheld tools): each error type keeps its quarter. A reason's capacity is the
    smaller of its should-chat and should-call capacities, and both types get the same quotas,
    since the reply-against-call slots of a reason are mirrored anyway (`_mirror`). What no
    reason can take stays (the leftover slots become call-against-call slots)."""
    kinds = [lb[1] for lb in quota if lb[0] == SHOULD_CHAT]
    joint = {k: min(capacity[(SHOULD_CHAT, k)], capacity[(SHOULD_CALL, k)]) for k in kinds}
    share = {k: quota[(SHOULD_CHAT, k)] for k in kinds}
    for kind in kinds:
        excess = share[kind] - joint[kind]
        for other in kinds:
            if excess <= 0:
                break
            spare = joint[other] - share[other]
            if other != kind and spare > 0:
                moved = min(spare, excess)
                share[other] += moved
                share[kind] -= moved
                excess -= moved
    for kind in kinds:
        quota[(SHOULD_CHAT, kind)] = quota[(SHOULD_CALL, kind)] = share[kind]


def _mirror(given: dict[tuple[str, int], Label], kinds: Sequence[str], rng: random.Random) -> None:
    """As many reply-against-call slots of each reason on the should-chat side as on the
    should-call side (a source short of one side, as ToolTalk is of early answers, would
    otherwise reward "prefer the call" or its inverse): the excess side's slots of a reason
    become call-against-call slots."""
    for kind in kinds:
        chat = [slot for slot, label in given.items() if label == (SHOULD_CHAT, kind)]
        call = [slot for slot, label in given.items() if label == (SHOULD_CALL, kind)]
        excess = chat if len(chat) > len(call) else call
        rng.shuffle(excess)
        for n, slot in enumerate(excess[:abs(len(chat) - len(call))]):
            given[slot] = ((WRONG_PARAMS, None), (WRONG_TOOL, None))[n % 2]


def select_train(conversations: Sequence[Any], points: dict[str, list[DecisionPoint]], seed: int, source: str,
                 conversation_id: Callable[[Any], str], kinds: Sequence[str],
                 per_conversation: int = TRAIN_POINTS) -> list[Slot]:
    """The training split's slots: up to `per_conversation` distinct points of each
    conversation, the error types in a seeded rotation, reasons and intents seeded."""
    out = []
    for conversation in conversations:
        cid = conversation_id(conversation)
        pick = random.Random(seeded_key(seed, f"{source}/train/{cid}"))
        types = [*CALL_ERROR_TYPES, SHOULD_CHAT]
        pick.shuffle(types)
        used: set[int] = set()
        for error_type in types[:per_conversation]:
            reason = kinds[pick.randrange(len(kinds))] if error_type in (SHOULD_CHAT, SHOULD_CALL) else None
            options = [(p, e) for p, e in _options(points[cid], (error_type, reason), pick, kinds)
                       if p.step not in used]
            if options:
                used.add(options[0][0].step)
                out.append(Slot(conversation, tuple(options)))
    return out
