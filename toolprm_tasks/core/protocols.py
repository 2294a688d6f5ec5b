"""Each judging protocol one object, registered once: what the judge is shown, what is read
from its answer, and its default prompt. The adapters (lm-eval's documents, the Inspect
solver and scorer) look a protocol up here and act on its fields; none branches on its name.

    generative   the pairwise prompt; the judge writes an answer (parsed by scorers.core)
    pairwise_ll  the pairwise prompt; the log-probabilities of the two answer labels
    pointwise    the history alone; a score per candidate (a PRM, or lm-eval's likelihood)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from toolprm_tasks.core.names import PROTOCOLS, check_choice


class Shown(Protocol):
    """What a protocol needs of a trial (core/trials.Trial; named structurally: trials imports this)."""

    def pairwise_text(self, prompt: str) -> str: ...

    def pointwise_context(self) -> str: ...

Shows = Literal["pair", "history"]  # both candidates in one prompt, or the history each is scored after
Reads = Literal["text", "label_logprobs", "scores"]  # a written answer, the labels' logprobs, two scores


@dataclass(frozen=True)
class JudgingProtocol:
    name: str
    default_prompt: str  # pairwise likelihood needs the bare-label prompt ("toolprm")
    shows: Shows
    reads: Reads
    lm_eval_suffix: str  # the lm-eval task name's end: toolprmbench_<subset><suffix>
    scalar_suffix: str  # ... of its tasks for scalar PRMs (norm none), where they differ

    @property
    def scores_each_candidate(self) -> bool:
        return self.shows == "history"

    def prompt_text(self, trial: Shown, prompt: str) -> str:
        """What the judge is shown for `trial` (the prompt name matters for a pair only)."""
        return trial.pointwise_context() if self.scores_each_candidate else trial.pairwise_text(prompt)

    def task_suffix(self, norm: str) -> str:
        """The lm-eval task suffix for a length normalisation (`none`: the scalar-PRM tasks)."""
        return self.scalar_suffix if norm == "none" else self.lm_eval_suffix


REGISTRY: dict[str, JudgingProtocol] = {p.name: p for p in (
    JudgingProtocol("generative", "standard", "pair", "text", "", ""),
    JudgingProtocol("pairwise_ll", "toolprm", "pair", "label_logprobs", "_pairwise_ll", "_pairwise_ll"),
    JudgingProtocol("pointwise", "standard", "history", "scores", "_pointwise", "_prm"),
)}
if tuple(REGISTRY) != PROTOCOLS:  # names.ProtocolName (what Inspect checks -T against) and this agree
    raise RuntimeError(f"protocol registry {tuple(REGISTRY)} differs from names.PROTOCOLS {PROTOCOLS}")

DEFAULT_PROMPT: dict[str, str] = {name: p.default_prompt for name, p in REGISTRY.items()}


def protocol(name: str) -> JudgingProtocol:
    """The registered protocol `name` (a ValueError naming the choices otherwise)."""
    return REGISTRY[check_choice("protocol", name, PROTOCOLS)]


def check_prompt_fits(name: str, prompt: str | None) -> None:
    """Refuse a prompt the protocol never shows: a pointwise judge sees the history alone, so
    `prompt=toolprm` there ran exactly as without it while the run recorded it."""
    if prompt is not None and protocol(name).scores_each_candidate:
        raise ValueError(f"`prompt` does not apply to the {name} protocol: each candidate is scored after the "
                         "history alone, no prompt is shown; leave it out")
