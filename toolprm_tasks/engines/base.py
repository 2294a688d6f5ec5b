"""The scoring-engine interface: each candidate action scored on its own given the history.

Kinds of model and what each one scores (higher = better):
- `classifier`: a sequence-classification reward model; the conversation (context as a user
  turn, the candidate as the assistant turn) through the model's chat template; the sigmoid
  of its logit (one label) or P(label 1) (two labels).
- `step`: a step-tag PRM (token classification); the candidate is the last step, followed by
  the step tag; P(correct) at that tag.
- `label-token`: a Math-Shepherd-style PRM; the candidate followed by the step tag; the
  probability of the good label against the bad one for the token right after the tag (the
  template's end of turn is not sent: the label would be read after it).
- `verifier`: a chat LLM asked whether the candidate is a correct next step;
  P(yes) / (P(yes) + P(no)) from the exact label tokens.
- `pairwise`: a chat LLM judging with the paper's pairwise prompt (the task's prompt text,
  through the chat template), greedy; with vLLM both orders of a case go in one batch so the
  shared history is computed once. It answers text, parsed like any judge's answer.

Histories longer than the model's context are shortened by one deterministic rule: keep the
tool descriptions, the first user turn (the instruction) and the most recent turns, drop the
oldest turns in between; the candidate is never cut. Every shortened request is counted
(per request in `Scored`, in total in `stats`). A request that cannot be sent (it does not fit
even so, or its text cannot be tokenised) is that request's failure, never the batch's: NaN
(a judge prompt: an empty answer with its reason), counted in `stats.unfit`.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from toolprm_tasks.core.names import KINDS, SCORING_KINDS, check_choice
from toolprm_tasks.core.render import render_action, render_functions, render_history

logger = logging.getLogger(__name__)


def check_kind(kind: str) -> str:
    """The kind if it is one of KINDS (names.py), else a ValueError naming them: every engine
    checks before loading anything."""
    return check_choice("kind", kind, KINDS)

VERIFIER_QUESTION = ("\n## Candidate next action: {candidate}\n"
                     "Is the candidate a correct next step towards finishing the task? Answer Yes or No.")


class EngineError(RuntimeError):
    """A model that cannot be loaded or scored as the requested kind: names model and cause."""


def single_token_id(tokenizer: Any, token: str, model: str) -> int:
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise EngineError(f"{model}: label {token!r} is {len(ids)} tokens for this tokenizer; choose a single-token label")
    return int(ids[0])


@dataclass(frozen=True)
class ScoreRequest:
    history: list[dict[str, Any]]
    functions: Any
    candidate: Any


@dataclass(frozen=True)
class Scored:
    score: float
    truncated: bool  # the history was shortened to fit the model's context
    prompt_tokens: int = 0  # the prompt as sent (0: not sent, an unfit request)


@dataclass(frozen=True)
class Generated:
    text: str
    prompt_tokens: int  # the judge prompt, chat template applied (0: not sent, an unfit prompt)
    answer_tokens: int  # the answer's text, tokenised again (what the answer costs, to a token)
    unsent: str = ""  # why the prompt was not sent (its answer is empty: a parse failure); "" when sent


@dataclass
class EngineStats:
    requests: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # served from the prefix cache (vLLM)
    truncated: int = 0  # requests whose history was shortened to fit
    # requests not sent: too long even with the shortest history (or a judge prompt longer than
    # the context), or text the tokenizer cannot encode (a lone surrogate); NaN or an empty answer
    unfit: int = 0
    bad_scores: int = 0  # scores a server returned that are no probability (NaN, inf, out of [0, 1]): NaN

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PromptFormat:
    """Kind-specific settings (documented defaults; each one selectable)."""

    step_tag: str = "<extra_0>"  # `step` (Qwen2.5-Math-PRM); Math-Shepherd uses "ки"
    good_token: str = "+"  # `label-token`
    bad_token: str = "-"
    yes_token: str = "Yes"  # `verifier`
    no_token: str = "No"


def context_text(history: list[dict[str, Any]], functions: Any) -> str:
    return f"## Function Description: {render_functions(functions)}\n## History: {render_history(history)}"


def messages_for(kind: str, request: ScoreRequest, history: list[dict[str, Any]], fmt: PromptFormat) -> list[dict[str, str]]:
    """The chat messages a kind of model scores (before the chat template)."""
    context = context_text(history, request.functions)
    candidate = render_action(request.candidate)
    if kind == "verifier":
        return [{"role": "user", "content": context + VERIFIER_QUESTION.format(candidate=candidate)}]
    if kind in ("step", "label-token"):
        return [{"role": "user", "content": context}, {"role": "assistant", "content": candidate + fmt.step_tag}]
    if kind == "classifier":
        return [{"role": "user", "content": context}, {"role": "assistant", "content": candidate}]
    raise ValueError(f"kind {kind!r} does not score single candidates; expected one of {', '.join(SCORING_KINDS)}")


def shortened_histories(history: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The truncation rule's candidates, longest first: keep system turns and the first user
    turn, then drop the oldest remaining turns one at a time."""
    keep_head = [i for i, t in enumerate(history) if t.get("role") == "system"]
    first_user = next((i for i, t in enumerate(history) if t.get("role") == "user"), None)
    if first_user is not None:
        keep_head.append(first_user)
    rest = [i for i in range(len(history)) if i not in keep_head]
    variants = []
    for dropped in range(1, len(rest) + 1):
        kept = sorted(keep_head + rest[dropped:])
        variants.append([history[i] for i in kept])
    return variants


def render_plain(messages: list[dict[str, str]], generation_prompt: bool) -> str:
    """For tokenizers without a chat template: `role: content` lines."""
    text = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
    return text + ("\nassistant:" if generation_prompt else "")


class ScoringEngine(ABC):
    """Scores candidates; subclasses load `self.tokenizer` and implement `_score_prompts`."""

    tokenizer: Any
    max_model_len: int  # the model's context: prompt and generated tokens

    def __init__(self, model: str, kind: str, max_length: int, fmt: PromptFormat | None = None) -> None:
        check_kind(kind)
        self.model_path, self.kind, self.max_length = model, kind, max_length
        self.fmt = fmt or PromptFormat()
        self.stats = EngineStats()
        # subclasses load `self.tokenizer` before this: label kinds check their labels at load
        self.label_ids = self.label_token_ids() if kind in ("verifier", "label-token") else []
        if kind == "step":
            self.step_id = single_token_id(self.tokenizer, self.fmt.step_tag, model)
        if kind in ("step", "label-token"):
            self._step_tail, self._step_tail_ids = self._template_tail()
        if kind == "label-token":  # any number of tokens, tokenised apart from the candidate
            self._tag_ids = list(self.tokenizer.encode(self.fmt.step_tag, add_special_tokens=False))
            if not self._tag_ids:
                raise EngineError(f"{model}: the step tag {self.fmt.step_tag!r} is no token of this tokenizer")
        self.check_context()

    def _template_tail(self) -> tuple[str, list[int]]:
        """`step`, `label-token`: what the chat template writes after the assistant turn's
        content (its end of turn), as text and token ids. `step`: the tag is the token right
        before it; a tail that holds the tag's token would be read instead of it (vLLM reads the
        last tag), refused. `label-token` sends no tail (the label follows the tag)."""
        probe, tag = "candidate", self.fmt.step_tag
        text = self.render(messages_for(self.kind, ScoreRequest([], None, probe), [], self.fmt))
        at = text.rfind(probe + tag)
        if at < 0:
            raise EngineError(f"{self.model_path}: the chat template does not keep the step tag {tag!r} right after "
                              "the candidate; choose another step_tag")
        tail = text[at + len(probe + tag):]
        tail_ids = self.tokenizer.encode(tail, add_special_tokens=False)
        if self.kind == "step" and self.step_id in tail_ids:
            raise EngineError(f"{self.model_path}: the chat template's end of turn {tail!r} holds the step tag "
                              f"{tag!r}; choose another step_tag")
        return tail, tail_ids

    def check_context(self) -> None:
        """Refuse a context that cannot hold even the shortest prompt of the kind (the template
        with no tools, no history and an empty candidate; pairwise: an empty judge prompt) and,
        for kinds that generate, one answer token: every request would be unscorable or fail."""
        if self.kind == "pairwise":
            prompt, room = self.render([{"role": "user", "content": ""}]), self.max_model_len - 1
        else:
            prompt, room = self.render(messages_for(self.kind, ScoreRequest([], None, ""), [], self.fmt)), self.max_length
        shortest = len(self.encode_prompt(prompt))
        if shortest > room:
            answer = f" and {self.max_model_len - room} answer token" if room < self.max_model_len else ""
            raise EngineError(f"{self.model_path}: max_length={self.max_model_len} cannot hold even the shortest "
                              f"{self.kind} prompt ({shortest} tokens with no tools, history or candidate{answer}); "
                              "raise max_length")

    def render(self, messages: list[dict[str, str]]) -> str:
        """Messages to prompt text with the model's own chat template (a generation prompt
        for the kinds that read the next token: verifier, pairwise)."""
        generation_prompt = self.kind in ("verifier", "pairwise")
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
        return render_plain(messages, generation_prompt)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def encode_prompt(self, text: str) -> list[int]:
        """A rendered prompt's token ids, as every engine sends them. `step`: the text before
        the step tag, the tag's own id and the template's end of turn, tokenised apart, so the
        tag never merges with the candidate's last characters (a tag that is not a special
        token would: "call th" + "e" is "the") and the score is read at that tag.
        `label-token`: the text before the tag and the tag, tokenised apart, and nothing after:
        the label is the token right after the tag (where Math-Shepherd reads it), not the one
        after the template's end of turn. Text that cannot be tokenised (a lone surrogate)
        raises EngineError: one request's failure."""
        try:
            if self.kind not in ("step", "label-token"):
                return list(self.tokenizer.encode(text, add_special_tokens=False))
            end = self.fmt.step_tag + self._step_tail
            if not text.endswith(end):  # a template that rewrote this candidate's turn
                raise EngineError(f"{self.model_path}: the step tag {self.fmt.step_tag!r} is not at the end of the "
                                  "candidate's turn as rendered")
            head = self.tokenizer.encode(text[: len(text) - len(end)], add_special_tokens=False)
            if self.kind == "label-token":
                return [*head, *self._tag_ids]
            return [*head, self.step_id, *self._step_tail_ids]
        except (TypeError, ValueError) as exc:  # tokenizers: TypeError on a lone surrogate ("x\ud800")
            raise EngineError(f"{self.model_path}: the prompt cannot be tokenised "
                              f"({type(exc).__name__}: {exc})") from exc

    @abstractmethod
    def _score_prompts(self, prompts: Sequence[str]) -> list[float]: ...

    @contextmanager
    def _failures_named(self, doing: str) -> Iterator[None]:
        """A failure inside the runtime (out of memory, a dead worker) stops the run with the
        model's name and the cause; nothing partial is returned."""
        try:
            yield
        except EngineError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the model's name, never swallowed
            hint = " (lower max_length or gpu_memory_utilization, or use more GPUs)" \
                if "out of memory" in str(exc).lower() else ""
            raise EngineError(f"{self.model_path}: the {self.kind} engine failed while {doing} "
                              f"({type(exc).__name__}: {exc}){hint}") from exc

    def _generate(self, token_ids: list[list[int]], max_tokens: list[int]) -> tuple[list[str], int]:
        """Greedy answers for token-id prompts, and the prompt tokens a prefix cache served."""
        raise NotImplementedError(f"{type(self).__name__} does not generate")

    def generate(self, prompts: Sequence[str], max_tokens: int | Sequence[int] = 1024) -> list[str]:
        """Kind `pairwise`: greedy answers to the judge prompts (`generate_detailed`'s texts)."""
        return [answer.text for answer in self.generate_detailed(prompts, max_tokens)]

    def generate_detailed(self, prompts: Sequence[str], max_tokens: int | Sequence[int] = 1024) -> list[Generated]:
        """Kind `pairwise`: greedy answers to the judge prompts (chat template applied), all in
        one call (with a prefix cache, both orders of a case share their history), with their
        token counts. An answer may use what the context leaves of its `max_tokens` (one for
        all prompts, or one per prompt). A prompt that fills the context or cannot be tokenised
        is not sent: its answer is empty, with the reason in `unsent` (a parse failure to every
        caller), counted in `stats.unfit`; the others are answered as if it were not there."""
        limits = [max_tokens] * len(prompts) if isinstance(max_tokens, int) else list(max_tokens)
        if len(limits) != len(prompts):
            raise ValueError(f"{len(limits)} max_tokens for {len(prompts)} prompts")
        if self.kind != "pairwise":
            raise ValueError(f"{self.model_path}: generate() is for kind 'pairwise', not {self.kind!r}")
        token_ids: list[list[int] | None] = []
        unsent: dict[int, str] = {}
        for index, prompt in enumerate(prompts):
            try:
                ids = self.encode_prompt(self.render([{"role": "user", "content": prompt}]))
                if len(ids) >= self.max_model_len:
                    raise EngineError(f"{self.model_path}: judge prompt {index} has {len(ids)} tokens; the context "
                                      f"holds {self.max_model_len} (raise max_length where the model allows a longer context)")
            except EngineError as exc:  # one prompt never fails the others
                unsent[index] = str(exc)
                self.stats.unfit += 1
                logger.warning("%s; answered empty (an unscorable trial, counted)", exc)
                token_ids.append(None)
                continue
            token_ids.append(ids)
        sent = [(ids, limit) for ids, limit in zip(token_ids, limits, strict=True) if ids is not None]
        texts: list[str] = []
        cached = 0
        if sent:
            with self._failures_named(f"generating {len(sent)} answers"):
                texts, cached = self._generate([ids for ids, _ in sent],
                                               [min(limit, self.max_model_len - len(ids)) for ids, limit in sent])
        self.stats.requests += len(token_ids)
        self.stats.prompt_tokens += sum(len(ids) for ids, _ in sent)
        self.stats.cached_prompt_tokens += cached
        answers, out = iter(texts), []
        for index, ids in enumerate(token_ids):
            if ids is None:
                out.append(Generated("", 0, 0, unsent[index]))
            else:
                text = next(answers)
                out.append(Generated(text, len(ids), self.count_tokens(text)))
        return out

    def close(self) -> None:
        """Release what the engine holds outside this process (vLLM's engine core, a server);
        idempotent. Engines that hold nothing there need nothing."""
        return None

    def report(self) -> dict[str, Any]:
        """What a results file should carry about the engine: its settings and counters."""
        return {"engine": type(self).__name__, "model": self.model_path, "kind": self.kind,
                "max_length": self.max_length, "prompt_format": dict(self.fmt.__dict__), **self.stats.as_dict()}

    def label_token_ids(self) -> list[int]:
        """The two label tokens a generative kind compares: (yes, no) for `verifier`,
        (good, bad) for `label-token`; each must be one token of this tokenizer."""
        labels = {"verifier": (self.fmt.yes_token, self.fmt.no_token),
                  "label-token": (self.fmt.good_token, self.fmt.bad_token)}[self.kind]
        return [single_token_id(self.tokenizer, label, self.model_path) for label in labels]

    def prompt_for(self, request: ScoreRequest) -> tuple[str, bool]:
        """The prompt text, and whether its history had to be shortened to fit."""
        text, shortened, _ = self._fitted(request)
        return text, shortened

    def _fitted(self, request: ScoreRequest) -> tuple[str, bool, int]:
        """`prompt_for`, with the prompt's length in tokens."""
        text = self.render(messages_for(self.kind, request, request.history, self.fmt))
        if (tokens := len(self.encode_prompt(text))) <= self.max_length:
            return text, False, tokens
        variants = shortened_histories(request.history)
        # the shortest first: a candidate that fits with no history to spare is settled in one try
        # (a huge one took minutes, every shorter history tokenised before it was called unfit)
        if variants and len(self.encode_prompt(self.render(messages_for(self.kind, request, variants[-1],
                                                                        self.fmt)))) > self.max_length:
            variants = []
        for history in variants:
            text = self.render(messages_for(self.kind, request, history, self.fmt))
            if (tokens := len(self.encode_prompt(text))) <= self.max_length:
                self.stats.truncated += 1
                return text, True, tokens
        raise EngineError(f"{self.model_path}: even the shortest history with the candidate exceeds "
                          f"max_length={self.max_length} tokens (a longer context: the engine's max_length "
                          "option, up to the model's own)")

    def score_detailed(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        """One score per request, in order, each with its truncation flag. Requests sharing a
        history are sent together so that a prefix cache can serve the shared part. A request
        that cannot fit even without history gets NaN (both frameworks and the search count it
        as unscorable) and `stats.unfit`, so one oversized candidate never fails the others; so
        does a request whose text cannot be tokenised (a lone surrogate)."""
        built: list[tuple[str, bool, int] | None] = []
        for request in requests:
            try:
                built.append(self._fitted(request))
            except EngineError as exc:  # one request (a policy's degenerate candidate) never fails the batch
                self.stats.unfit += 1
                logger.warning("%s; scored NaN (an unscorable trial, counted)", exc)
                built.append(None)
        self.stats.requests += len(built)
        fitting = [item for item in built if item is not None]
        with self._failures_named(f"scoring {len(fitting)} prompts"):
            scores = iter(self._score_prompts([text for text, _, _ in fitting]) if fitting else [])
        # an unsent request's history was not shortened (`truncated` is the share of shortened
        # histories, as stats.truncated counts them): it is unscored, counted in `unfit`
        return [Scored(math.nan, False) if item is None else Scored(next(scores), item[1], item[2]) for item in built]

    def score(self, requests: Sequence[ScoreRequest]) -> list[float]:
        return [scored.score for scored in self.score_detailed(requests)]
