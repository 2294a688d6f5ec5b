"""The judge prompts: the paper's two pairwise prompts verbatim, and the pointwise prompt.

Typos in the paper's prompts ("descriptin", "annswer", "intermidiate") are kept on purpose:
they are the protocol (arXiv 2601.12294, appendix B).
"""

from __future__ import annotations

from dataclasses import dataclass

from toolprm_tasks.core.names import PROMPT_NAMES, check_choice

# Paper, appendix B: standard evaluation prompt (name: "standard").
STANDARD_PROMPT = (
    "Given the function descriptin, history, and the following two actions, which action is "
    "the correct one that could help to finish the task:\n"
    "## Function Description: {functions}\n"
    "## History: {history}\n"
    "## Action1: {action_1}\n"
    "## Action2: {action_2}\n"
    "Please generate your annswer in a JSON format: {{\n"
    '"rationale": <reasoning process for the judgment>, "chosen action": <"Action1" or "Action2"> }}'
)

# Paper, appendix B: the ToolPRM-Base / ToolPRM-GRPO prompt (name: "toolprm").
TOOLPRM_PROMPT = (
    "Given the interaction history, function description and two actions, which action is the "
    "correct intermidiate step that could help in finishing the task:\n"
    "## history: {history}\n"
    "## function description: {functions}\n"
    "## action_1: {action_1}\n"
    "## action_2: {action_2}\n"
    "Please only generate action_1 or action_2 as the final answer."
)

# Not in the paper (it scores PRMs without saying how): one candidate after the history.
POINTWISE_PROMPT = (
    "## Function Description: {functions}\n"
    "## History: {history}\n"
    "## Next action: "
)


@dataclass(frozen=True)
class PairwisePrompt:
    name: str
    template: str
    labels: tuple[str, str]  # the answer naming candidate 1 / candidate 2
    # Pairwise likelihood (protocol c) scores each label as the continuation of
    # template + answer_prefix: the JSON the standard prompt asks for, minus the rationale.
    answer_prefix: str


PAIRWISE_PROMPTS: dict[str, PairwisePrompt] = {
    "standard": PairwisePrompt("standard", STANDARD_PROMPT, ("Action1", "Action2"), '\n{"chosen action": "'),
    "toolprm": PairwisePrompt("toolprm", TOOLPRM_PROMPT, ("action_1", "action_2"), "\n"),
}


def pairwise_prompt(name: str) -> PairwisePrompt:
    return PAIRWISE_PROMPTS[check_choice("prompt", name, PROMPT_NAMES)]
