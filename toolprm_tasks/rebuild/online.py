"""Online sampling on BFCL (paper, section 3): a policy rolls out whole conversations in the
executable environment; a failed rollout (end state differs from the gold end state, as BFCL
checks) goes to an annotator that names the first wrong step and the corrected action. The
case keeps the policy's own history up to that step."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from scorers import answers
from toolprm_tasks.core.render import render_functions
from toolprm_tasks.core.tool_calls import as_tool_calls, readable_arguments
from toolprm_tasks.envs.bfcl import Conversation, function_docs, replay_gold
from toolprm_tasks.rebuild.bfcl_points import environment, functions_at, run_action
from toolprm_tasks.rebuild.models import ModelCaller
from toolprm_tasks.rebuild.points import DecisionPoint
from toolprm_tasks.rebuild.policy import action_json, encodable, parse_action, policy_prompt

MAX_STEPS_PER_TURN = 8

ANNOTATOR_PROMPT = (
    "A tool-using assistant did not finish this task correctly. Its steps are numbered below; a reference "
    "solution (the correct calls per user turn) is given.\n"
    "## Tools: {functions}\n"
    "## Steps:\n{steps}\n"
    "## Reference calls per turn: {reference}\n"
    "Find the first wrong assistant step and the action the assistant should have taken there. Answer "
    'with JSON only: {{"first_wrong_step": <step number>, "corrected_action": {{"name": <tool>, '
    '"parameters": {{...}}}} or "<reply text>"}}'
)


@dataclass
class Rollout:
    conversation: Conversation
    steps: list[dict[str, Any]]  # history turns in order (user, assistant, tool)
    point_of: dict[int, tuple[list[dict[str, Any]], list[Any], list[dict[str, Any]]]]  # step -> (history, prior, functions)
    succeeded: bool


async def rollout(conversation: Conversation, policy: ModelCaller) -> Rollout:
    env = environment(conversation)
    docs = function_docs(conversation.involved_classes)
    history: list[dict[str, Any]] = []
    executed: list[Any] = []
    point_of = {}
    for turn, messages in enumerate(conversation.turns):
        history.extend({"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages)
        functions = functions_at(conversation, turn, docs)
        for _ in range(MAX_STEPS_PER_TURN):
            action = parse_action(await policy.generate(policy_prompt(history, functions)))
            point_of[len(history)] = (list(history), list(executed), functions)
            history.append({"role": "assistant", "content": action})
            if isinstance(action, str):
                break
            observation = run_action(env, action)
            executed.append(action)
            history.append({"role": "tool", "content": observation.text if observation else ""})
    state = env.state_or_none()  # None: the policy's calls made a state too large to compare
    succeeded = state is not None and state == replay_gold(conversation).end_state
    return Rollout(conversation, history, point_of, succeeded)


def annotator_prompt(run: Rollout) -> str:
    lines = []
    for index, turn in enumerate(run.steps):
        content = turn["content"] if isinstance(turn["content"], str) else action_json(turn["content"])
        lines.append(f"[{index}] {turn['role']}: {content}")
    docs = function_docs(run.conversation.involved_classes)
    return ANNOTATOR_PROMPT.format(functions=render_functions(docs), steps="\n".join(lines),
                                   reference=json.dumps(run.conversation.gold, ensure_ascii=False))


def parse_annotation(text: str | None) -> tuple[int, Any] | None:
    """The annotator's (first wrong step, corrected action) from the first JSON object of its
    answer; None when there is none or it is not that (counted by the caller): a step that is
    not an integer (`true` is no step), a corrected call whose arguments are not one JSON
    object (under `parameters` or `arguments`; both, differing, is two answers), a key twice
    (`answers.loads` refuses it), text that is not valid Unicode (a lone surrogate). Never raises."""
    value = next((v for v in answers.json_values(answers.answer_text(text) or "") if isinstance(v, dict)), None)
    if not isinstance(value, dict):
        return None
    step = value.get("first_wrong_step")
    if isinstance(step, bool) or not isinstance(step, int):
        return None
    corrected = value.get("corrected_action")
    if isinstance(corrected, dict) and isinstance(corrected.get("name"), str):
        # `"parameters": null` is a call without arguments, as before
        calls = as_tool_calls({k: v for k, v in corrected.items() if not (k == "parameters" and v is None)})
        arguments = calls[0].arguments if calls else None
        if not readable_arguments(arguments):
            return None
        corrected = {"name": corrected["name"], "parameters": arguments}
    elif not (isinstance(corrected, str) and corrected.strip()):
        return None
    if not encodable(json.dumps(corrected, ensure_ascii=False)):  # a lone surrogate: the build could not write it
        return None
    return step, corrected


def rollouts(conversations: list[Conversation], policy: ModelCaller) -> list[Rollout]:
    async def run() -> list[Rollout]:
        return list(await asyncio.gather(*(rollout(c, policy) for c in conversations)))

    return asyncio.run(run())


def annotated_points(failed: list[Rollout], annotator: ModelCaller) -> list[tuple[Rollout, DecisionPoint | None, Any, str]]:
    """For each failed rollout: (rollout, the decision point at the first wrong step with the
    corrected action as gold, the policy's action there, why it was not usable if it was not)."""
    answers = annotator.generate_all([annotator_prompt(run) for run in failed])
    results = []
    for run, answer in zip(failed, answers, strict=True):
        parsed = parse_annotation(answer)
        if parsed is None:
            results.append((run, None, None, "annotation not parseable"))
            continue
        step, corrected = parsed
        if step not in run.point_of:
            results.append((run, None, None, f"step {step} is not an assistant step"))
            continue
        history, prior, functions = run.point_of[step]
        point = DecisionPoint("bfcl", run.conversation.id, step, history, functions, corrected, prior_calls=prior)
        results.append((run, point, run.steps[step]["content"], ""))
    return results
