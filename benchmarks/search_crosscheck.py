"""Our turn verdict against bfcl-eval's own multi-turn checker, on every BFCL conversation.

For each conversation: the gold trajectory, deliberately wrong ones (a call dropped, a call
repeated, a turn with calls left empty, a call in a turn that asks for none) and the replay
policy's rollouts under `first` (K=4). Each trajectory is judged by our verdict
(`agent_search.check`) and by bfcl-eval's `multi_turn_checker` and
`multi_turn_irrelevance_checker` (run unchanged, executing through our ast dispatcher instead
of `eval`: `benchmarks/bfcl_crosscheck.py`), turn by turn (BFCL's checker on every prefix).
Counts agreements, and the trajectories where bfcl-eval's runner (which in this version does
not call its irrelevance checker) and our verdict differ. Writes
benchmarks/out/search_crosscheck.json.

    python benchmarks/search_crosscheck.py [--categories all] [--limit 0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, write_result  # noqa: E402
from benchmarks.bfcl_crosscheck import bfcl_turn_verdicts, bfcl_verdict  # noqa: E402
from toolprm_tasks.agent_search import replay  # noqa: E402
from toolprm_tasks.agent_search.check import reference, trajectory_verdicts  # noqa: E402
from toolprm_tasks.agent_search.loop import Samples, run_conversation  # noqa: E402
from toolprm_tasks.agent_search.selector import make_selector  # noqa: E402
from toolprm_tasks.envs.bfcl import CATEGORIES, load_conversations  # noqa: E402


class Replay:
    def __init__(self, k: int) -> None:
        self.k = k

    async def sample(self, request: Any, n: int) -> Samples:
        return Samples(replay.replay_answers(request.step, self.k, n))


def variants(conversation: Any, ref: Any) -> dict[str, list[list[dict[str, Any]]]]:
    gold = [list(turn.calls) for turn in ref.turns]
    out = {"gold": gold}
    with_calls = [t for t, calls in enumerate(gold) if calls]
    last, first = with_calls[-1], with_calls[0]
    out["drop_last_call"] = [calls[:-1] if t == last else calls for t, calls in enumerate(gold)]
    out["repeat_last_call"] = [calls + calls[-1:] if t == last else calls for t, calls in enumerate(gold)]
    out["empty_turn_with_calls"] = [[] if t == first else calls for t, calls in enumerate(gold)]
    empty = next((t for t, calls in enumerate(gold) if not calls), None)
    if empty is not None:
        probe = gold[with_calls[-1]][0]
        out["call_in_turn_without_calls"] = [[probe] if t == empty else calls for t, calls in enumerate(gold)]
    return out


def ours_per_turn(ref: Any, trajectory: list[list[dict[str, Any]]]) -> list[bool]:
    out, solved = [], True
    for verdict in trajectory_verdicts(ref, trajectory):
        solved = solved and verdict.solved
        out.append(solved)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default="all")
    parser.add_argument("--limit", type=int, default=0, help="conversations per category (0: all)")
    args = parser.parse_args()
    categories = CATEGORIES if args.categories == "all" else tuple(args.categories.split(","))
    counts: Counter[str] = Counter()
    disagreements: list[dict[str, Any]] = []
    start = time.perf_counter()
    for category in categories:
        conversations = load_conversations((category,))
        for conversation in conversations[:args.limit or None]:
            ref = reference(conversation)
            trajectories = variants(conversation, ref)
            rollout = asyncio.run(run_conversation(ref, Replay(4), make_selector("first"), selector_name="first", n=1))
            if not rollout.force_terminated:
                trajectories["replay_first_k4"] = [
                    [s["candidates"][s["chosen"]]["action"]["value"] for s in turn["steps"]
                     if s["candidates"][s["chosen"]]["action"]["kind"] == "call"] for turn in rollout.turns]
            for name, trajectory in trajectories.items():
                ours = ours_per_turn(ref, trajectory)
                theirs = bfcl_turn_verdicts(conversation, trajectory)
                whole = bfcl_verdict(conversation, trajectory)
                counts["trajectories"] += 1
                counts[f"{name}:solved_by_us"] += ours[-1]
                counts["turn_verdicts"] += len(ours)
                counts["turn_verdicts_agree"] += sum(a == b for a, b in zip(ours, theirs, strict=True))
                if whole["valid"] and not whole["irrelevance_valid"]:
                    counts["runner_passes_but_irrelevance_fails"] += 1
                if ours != theirs:
                    disagreements.append({"id": conversation.id, "trajectory": name, "ours": ours, "bfcl": theirs,
                                          "bfcl_error": whole["error_type"]})
    result = {
        "machine": machine(), "categories": list(categories), "seconds": round(time.perf_counter() - start, 1),
        "counts": dict(sorted(counts.items())), "disagreements": disagreements[:50],
        "disagreement_count": len(disagreements),
    }
    write_result("search_crosscheck", result)


if __name__ == "__main__":
    main()
