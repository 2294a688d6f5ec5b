"""The search loop over one BFCL conversation, per user turn:

sample N candidate next actions from the policy (one request), merge equivalent ones (keeping
their counts), try each in a deep copy of the environment against the gold step (the oracle's
verdict, logged for every selector), let the selection rule choose, execute the chosen call
(`ast` parsing and dispatch by name, never `eval`), append the observation, and stop the turn
on a reply, or on an answer that is no action (BFCL's runner ends a turn on undecodable output
too). Step limit, exactly as BFCL's runner: `max_steps` calls per turn (default 20, BFCL's
`MAXIMUM_STEP_LIMIT`); the call after those is still executed, then the agent is
force-terminated: the conversation ends there (the hit is counted). If turns remain, it fails
and they count as unsolved (BFCL fails an entry whose turns are missing); in the last turn
the verdict is taken as usual. Each turn is judged by BFCL's verdict (`check.turn_verdict`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.rebuild.bfcl_points import environment, run_action
from toolprm_tasks.rebuild.policy import policy_prompt

from .actions import CALL, INVALID, merge, parse_answer
from .check import Reference, effect, gold_effect, gold_step, matches_gold, turn_verdict
from .replay import StepInfo
from .selector import Selector, StepContext, first, majority

DEFAULT_MAX_STEPS = 20  # bfcl_eval.constants.default_prompts.MAXIMUM_STEP_LIMIT


@dataclass(frozen=True)
class PolicyRequest:
    prompt: str  # the rebuild's policy prompt: tools, the agent's own history, the action format
    step: StepInfo  # for our replay provider only (message metadata); never in the prompt


@dataclass
class Samples:
    texts: list[str]
    tokens: int = 0
    requests: int = 1


class Policy(Protocol):
    async def sample(self, request: PolicyRequest, n: int) -> Samples: ...


COUNTERS: tuple[str, ...] = (
    "turns", "turns_solved", "turns_state_ok", "steps", "samples", "distinct_candidates", "invalid_samples", "invalid_steps",
    "step_limit_hits", "decisive_steps", "agree_steps", "first_agree_steps", "majority_agree_steps",
    "oracle_no_match", "judge_calls", "judge_tokens", "judge_unparsed", "judge_splits", "fallback_steps",
    "policy_requests", "policy_tokens",
)


@dataclass
class Rollout:
    selector: str
    n: int
    gold_turns: int
    turns: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    force_terminated: bool = False  # the step limit was hit: later turns were not run

    @property
    def success(self) -> bool:
        return len(self.turns) == self.gold_turns and all(t["verdict"]["solved"] for t in self.turns)

    @property
    def state_success(self) -> bool:
        """Every turn run and its state equal to the gold state (the state check alone)."""
        return len(self.turns) == self.gold_turns and all(t["verdict"]["state_ok"] for t in self.turns)

    def to_json(self) -> dict[str, Any]:
        return {"selector": self.selector, "n": self.n, "success": self.success,
                "state_success": self.state_success, "force_terminated": self.force_terminated,
                "counts": dict(self.counts), "turns": self.turns}


async def run_conversation(ref: Reference, policy: Policy, selector: Selector, *, selector_name: str, n: int,
                           max_steps: int = DEFAULT_MAX_STEPS, seed: int = 0, key: str | None = None) -> Rollout:
    """Roll the policy out over every turn of the conversation under one selection rule."""
    conversation = ref.conversation
    key = key or conversation.id
    env = environment(conversation)
    history: list[dict[str, Any]] = []
    observations: list[str] = []  # every observation so far (BFCL's response check)
    rollout = Rollout(selector_name, n, len(ref.turns))
    counts = rollout.counts
    counts["turns"] = len(ref.turns)  # turns never run (after a force-termination) count as unsolved
    for t, (messages, turn) in enumerate(zip(conversation.turns, ref.turns, strict=True)):
        history.extend({"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages)
        taken, calls, steps = 0, 0, []
        for s in range(max_steps + 1):  # the last one can only be a reply or the quitting call
            step_key = f"{key}/{t}/{s}"
            gold = gold_step(turn, taken)
            info = StepInfo(step_key, conversation.id, conversation.category, t, taken, gold, list(history))
            samples = await policy.sample(PolicyRequest(policy_prompt(history, turn.functions), info), n)
            actions = [parse_answer(text) for text in samples.texts]
            candidates = merge(actions, turn.functions) if actions else []
            if not candidates:
                raise RuntimeError(f"{step_key}: the policy returned no answer at all")
            reference_effect = gold_effect(env, gold)
            matches = [matches_gold(effect(env, c.action), reference_effect) for c in candidates]
            rng = random.Random(seeded_key(seed, f"{step_key}/select"))  # the key is part of the numbers: kept
            choice = await selector(StepContext(step_key, list(history), turn.functions), candidates, matches, rng)
            chosen = candidates[choice.index].action
            decisive = any(matches) and not all(matches)
            counts["steps"] += 1
            counts["samples"] += len(actions)
            counts["distinct_candidates"] += len(candidates)
            counts["invalid_samples"] += sum(1 for a in actions if a.kind == INVALID)
            counts["policy_requests"] += samples.requests
            counts["policy_tokens"] += samples.tokens
            counts["decisive_steps"] += decisive
            counts["agree_steps"] += decisive and matches[choice.index]
            counts["first_agree_steps"] += decisive and matches[first(candidates)]
            counts["majority_agree_steps"] += decisive and matches[majority(candidates)]
            counts["oracle_no_match"] += not any(matches)
            counts["judge_calls"] += choice.judge_calls
            counts["judge_tokens"] += choice.judge_tokens
            counts["judge_unparsed"] += choice.judge_unparsed
            counts["judge_splits"] += choice.judge_splits
            counts["fallback_steps"] += choice.fallback
            record: dict[str, Any] = {
                "step": s, "gold": gold, "samples": samples.texts,
                "candidates": [{"action": c.action.to_json(), "count": c.count, "samples": c.samples,
                                "matches_gold": ok} for c, ok in zip(candidates, matches, strict=True)],
                "chosen": choice.index, "decided_by": choice.decided_by, "judge": choice.detail,
                "first": first(candidates), "majority": majority(candidates),
                "matched_gold": matches[choice.index], "observation": None,
            }
            steps.append(record)
            if chosen.kind == CALL:
                observation = run_action(env, chosen.value)
                record["observation"] = observation.text
                observations.append(observation.text)
                calls += 1
                history.append({"role": "assistant", "content": chosen.value})
                history.append({"role": "tool", "content": observation.text})
                taken += matches[choice.index]
                if calls > max_steps:  # BFCL's runner executes this call, then quits
                    rollout.force_terminated = True
                    break
                continue
            if chosen.kind == INVALID:
                counts["invalid_steps"] += 1
            history.append({"role": "assistant", "content": chosen.value})
            break
        verdict = turn_verdict(turn, env, calls, observations)
        counts["turns_solved"] += verdict.solved
        counts["turns_state_ok"] += verdict.state_ok
        rollout.turns.append({"turn": t, "verdict": verdict.to_json(), "step_limit_hit": rollout.force_terminated,
                              "gold_calls": len(turn.calls), "gold_taken": taken, "steps": steps})
        if rollout.force_terminated:
            counts["step_limit_hits"] += 1
            break
    return rollout
