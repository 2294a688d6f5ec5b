"""The `difficulty` field of a rebuilt case, and the `hard` tier: a rule over that field.

Every rebuilt case records how its rejected action was made and how it relates to the
history: `{"operator": ..., "relation": ...}`. The relation is one of `RELATIONS`, a small
vocabulary (docs/rebuild.md lists it with examples). The tier is decided by the relation
alone (`tier_of`), a rule fixed before any judge was measured on the build: never by a
judge's answers.
"""

from __future__ import annotations

from typing import Any

from toolprm_tasks.core.names import TIERS

# relation -> what it means (the docs' table is written from this)
RELATIONS: dict[str, str] = {
    "swapped": "two arguments of the right call exchanged (source and destination, from and to)",
    "stale_value": "an argument keeps the value it had in an earlier call of the conversation",
    "grounded_value": "an argument takes another value the history holds (another id, file, name or date)",
    "precondition": "a later step of the turn made before the step it depends on; the environment refuses it",
    "sibling_tool": "a tool of the same class with a close name and description instead of the right one",
    "early_answer": "a reply that reports the real results so far before the last needed call",
    "needless_question": "a question for a value that the pending call would look up",
    "false_refusal": "a reply that says no tool can do what an offered tool does",
    "grounded_guess": "the call made with the missing value guessed from the conversation",
    "substitute_tool": "a sibling of the withheld tool called where the right reply says no tool can do it",
    "unrequested_call": "a call the user has not asked for (yet), made where the turn's report is due",
    "repeated_call": "the last call made again where the answer is due (GTA's final answers, which give no reason)",
    "model": "a rejected action a policy model proposed (online or offline sampling)",
    "other": "none of the above (a source without the fields the operators read)",
}
# The hard tier, decided before any judge was measured: wrong actions made of the conversation's
# own values and words that only the history's course or the tools' meaning expose. Left out:
# a value other than the one the user named (one look at the request shows it), and the cases
# whose reply says that no tool can do it (one look at the tool list decides them).
HARD_RELATIONS: frozenset[str] = frozenset({"swapped", "stale_value", "precondition", "sibling_tool",
                                            "early_answer", "needless_question", "grounded_guess",
                                            "unrequested_call"})


def difficulty(operator: str, relation: str) -> dict[str, str]:
    """A case's difficulty field."""
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; expected one of {', '.join(RELATIONS)}")
    return {"operator": operator, "relation": relation}


def tier_of(value: Any) -> str:
    """`hard` when the case's relation is one of HARD_RELATIONS, else `standard` (a record
    without a difficulty field, such as the paper's release, is standard)."""
    relation = value.get("relation") if isinstance(value, dict) else None
    return "hard" if relation in HARD_RELATIONS else "standard"


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    return tier


def in_tier(provenance: dict[str, Any], tier: str) -> bool:
    """Whether a case (its provenance, as `Case.provenance` holds it) belongs to `tier`."""
    return check_tier(tier) == "all" or tier_of(provenance.get("difficulty")) == tier
