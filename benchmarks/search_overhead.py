"""The search loop's own time per step, without model time, and the environment's step time.

Runs the framework-free loop (`toolprm_tasks.agent_search.loop`) over BFCL conversations with
the replay policy (K candidates per step) and a pointwise judge that answers at once, and
splits the wall time of every step into:
- policy: the policy's `sample` (the replay's proposals here; a model's generation in a real run),
- judge: the judge's scoring,
- environment: running calls (the chosen one, and each candidate and the gold step in a deep
  copy for the oracle's verdict) and taking state snapshots for the turn verdict,
- harness: everything else (parsing answers, merging, selection, bookkeeping, records).
Goal: harness < 5 ms per step. Also times the whole task through Inspect for context.
Writes benchmarks/out/search_overhead.json.

    python benchmarks/search_overhead.py [--per-category 10] [--k 8] [--inspect-limit 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import TIMERS, machine, timed, write_result  # noqa: E402
from toolprm_tasks.agent_search import check, loop, replay  # noqa: E402
from toolprm_tasks.agent_search.selector import Scored, make_selector  # noqa: E402
from toolprm_tasks.envs.bfcl import CATEGORIES, load_conversations  # noqa: E402


class TimedReplay:
    def __init__(self, k: int) -> None:
        self.k = k

    async def sample(self, request: loop.PolicyRequest, n: int) -> loop.Samples:
        start = time.perf_counter()
        answers = replay.replay_answers(request.step, self.k, n)
        TIMERS["policy"] += time.perf_counter() - start
        return loop.Samples(answers)


class InstantJudge:
    """Scores by rendered length: no model, so its time is only the call itself."""

    async def score(self, context: Any, actions: list[Any]) -> list[Scored]:
        start = time.perf_counter()
        scores = [Scored(float(len(a.render()))) for a in actions]
        TIMERS["judge"] += time.perf_counter() - start
        return scores


def _instrument() -> None:
    """Time the environment's work inside the loop (calls, copies, snapshots)."""
    loop.effect = timed("environment", loop.effect)
    loop.gold_effect = timed("environment", loop.gold_effect)
    loop.run_action = timed("environment", loop.run_action)
    loop.turn_verdict = timed("environment", loop.turn_verdict)
    loop.environment = timed("environment", loop.environment)
    loop.policy_prompt = timed("policy", loop.policy_prompt)  # building the model's prompt: the policy's input


def run_loop(conversations: list[Any], k: int) -> dict[str, Any]:
    _instrument()
    references = [check.reference(c) for c in conversations]  # gold replay: set-up, not per step
    for c in conversations:  # warm the replay's caches (category pools) outside the timing
        replay._value_pool(c.category)
    TIMERS.clear()
    steps, per_conversation = 0, []
    start = time.perf_counter()
    for ref in references:
        t0 = time.perf_counter()
        rollout = asyncio.run(loop.run_conversation(ref, TimedReplay(k), make_selector("judge",
                                                    pointwise_judge=InstantJudge()), selector_name="judge", n=k))
        per_conversation.append((time.perf_counter() - t0) / max(rollout.counts["steps"], 1))
        steps += rollout.counts["steps"]
    wall = time.perf_counter() - start
    harness = wall - TIMERS["policy"] - TIMERS["judge"] - TIMERS["environment"]
    return {
        "conversations": len(conversations), "steps": steps, "k": k,
        "wall_s": round(wall, 3),
        "ms_per_step": {
            "harness": round(1000 * harness / steps, 3),
            "environment": round(1000 * TIMERS["environment"] / steps, 3),
            "policy_replay": round(1000 * TIMERS["policy"] / steps, 3),
            "judge_instant": round(1000 * TIMERS["judge"] / steps, 3),
        },
        "total_ms_per_step_median_over_conversations": round(1000 * statistics.median(per_conversation), 3),
        "goal_harness_ms_per_step": 5.0,
    }


def run_inspect(limit: int, k: int) -> dict[str, Any]:
    """The whole task through Inspect (replay policy, `longer` judge pointwise) for context."""
    import tempfile

    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from toolprm_tasks.inspect_adapter.keys import RESULT_KEY
    from toolprm_tasks.search import toolprm_search

    with tempfile.TemporaryDirectory() as logs:
        start = time.perf_counter()
        log = inspect_eval(toolprm_search(category="base", n=k, selector="judge", compare=False),
                           model=get_model(f"toolprm-replay/{k}"), limit=limit, display="none", log_dir=logs,
                           model_roles={"judge": get_model("toolprm-baseline/longer")})[0]
        wall = time.perf_counter() - start
        steps = sum(s.metadata[RESULT_KEY]["rollout"]["counts"]["steps"] for s in log.samples)
    return {"conversations": limit, "steps": steps, "wall_s": round(wall, 3),
            "ms_per_step": round(1000 * wall / steps, 2), "status": log.status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=10, help="conversations per BFCL category")
    parser.add_argument("--k", type=int, default=8, help="replay candidates per step")
    parser.add_argument("--inspect-limit", type=int, default=5, help="conversations through Inspect (0: skip)")
    args = parser.parse_args()
    conversations = [c for category in CATEGORIES for c in load_conversations((category,))[:args.per_category]]
    result = {"machine": machine(), "loop": run_loop(conversations, args.k)}
    if args.inspect_limit:
        result["inspect"] = run_inspect(args.inspect_limit, args.k)
    write_result("search_overhead", result)


if __name__ == "__main__":
    main()
