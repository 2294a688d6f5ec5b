"""bfcl-eval's own multi-turn verdict on a trajectory, executed safely: its `multi_turn_checker`
and `multi_turn_irrelevance_checker` run unchanged, except that the function that executes call
strings (bfcl-eval evaluates them with `eval`) is swapped, for the duration of one check, for
one that parses each call with `ast` and dispatches it to our `Environment` (the same
instances and observation strings BFCL's runner would produce, kept per model and entry as
BFCL keeps its instances in module globals).

Used to cross-check `agent_search.check.turn_verdict` (tests; `benchmarks/search_crosscheck.py`);
kept out of the package (and its wheel) because only they use it. bfcl-eval is installed with
`--no-deps` (Makefile; docs/rebuild.md): its declared dependencies are heavy and conflicting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from toolprm_tasks.envs.bfcl import Conversation, Environment

_LOCK = threading.Lock()  # the swap is process-wide while it lasts


def call_string(action: dict[str, Any]) -> str:
    """A call object as BFCL writes calls (`name(key=literal, ...)`); values are Python literals,
    read back with `ast.literal_eval`."""
    args = ", ".join(f"{key}={value!r}" for key, value in action["parameters"].items())
    return f"{action['name']}({args})"


@contextmanager
def _safe_executor() -> Iterator[None]:
    from bfcl_eval.eval_checker.multi_turn_eval import (
        multi_turn_checker as checker,
    )

    environments: dict[tuple[str, str], Environment] = {}

    def execute(func_call_list: list[str], initial_config: dict, involved_classes: list, model_name: str,
                test_entry_id: str, long_context: bool = False, is_evaL_run: bool = False) -> tuple[list[str], dict]:
        key = (model_name + ("_eval" if is_evaL_run else ""), test_entry_id)
        if key not in environments:
            environments[key] = Environment(involved_classes, initial_config, long_context=long_context)
        env = environments[key]
        return [env.execute(call).text for call in func_call_list], dict(env.instances)

    with _LOCK:
        original = checker.execute_multi_turn_func_call
        checker.execute_multi_turn_func_call = execute
        try:
            yield
        finally:
            checker.execute_multi_turn_func_call = original


def bfcl_verdict(conversation: Conversation, steps_per_turn: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """BFCL's verdict for a trajectory given as the executed calls of each step, per turn (one
    call per step, as our agent makes them; replies and invalid answers are not calls).
    Returns {"valid", "irrelevance_valid", "error_type", "error_message"}."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import (
        multi_turn_checker,
        multi_turn_irrelevance_checker,
    )

    if len(steps_per_turn) != len(conversation.gold):
        # bfcl_eval.eval_checker.eval_runner (not importable without BFCL's heavy dependencies)
        # fails a force-terminated entry before calling the checker
        return {"valid": False, "irrelevance_valid": False, "error_type": "multi_turn:force_terminated",
                "error_message": f"{len(steps_per_turn)} of {len(conversation.gold)} turns run"}
    decoded = [[[call_string(call)] for call in turn] for turn in steps_per_turn]
    entry = {"id": conversation.id, "initial_config": conversation.initial_config,
             "involved_classes": conversation.involved_classes}
    with _safe_executor():
        result = multi_turn_checker(decoded, conversation.gold, entry, conversation.category, "toolprm_search")
    irrelevance = multi_turn_irrelevance_checker(decoded, conversation.gold)
    return {"valid": bool(result["valid"]), "irrelevance_valid": bool(irrelevance["valid"]),
            "error_type": result.get("error_type", ""), "error_message": result.get("error_message", "")}


def bfcl_turn_verdicts(conversation: Conversation, steps_per_turn: list[list[dict[str, Any]]]) -> list[bool]:
    """Per turn t: BFCL's checker on the first t+1 turns (valid iff turns 0..t all pass, the
    irrelevance rule included), to compare with our verdict turn by turn."""
    from dataclasses import replace

    verdicts = []
    for t in range(len(steps_per_turn)):
        prefix = replace(conversation, turns=conversation.turns[:t + 1], gold=conversation.gold[:t + 1])
        result = bfcl_verdict(prefix, steps_per_turn[:t + 1])
        verdicts.append(result["valid"] and result["irrelevance_valid"])
    return verdicts
