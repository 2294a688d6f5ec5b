"""Progress and quiet output for lm-eval runs: one bar per run on the terminal, framework
chatter (lm-eval's warnings, transformers and vLLM logs, child processes) in a log file.

`ProgressLM` wraps any lm-eval model and hands it the requests a few at a time, advancing a
`Progress`: a tqdm bar (`BarProgress`) or, in a child process, marked lines on its stdout that
the parent turns into a bar (`LineProgress`, `follow_progress`). `chatter_to` points file
descriptors 1 and 2 at a log and yields streams to the real terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import IO, Any, Protocol, TextIO

from lm_eval.api.model import LM
from tqdm import tqdm

PROGRESS_MARK = "\x1etoolprm-progress "  # a child's progress lines on its stdout


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


class BarProgress:
    """A tqdm bar on the terminal (not in the log)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.bar = tqdm(total=None, desc=f"{label:36s}", file=stream, leave=False, unit="req", dynamic_ncols=True)

    def start(self, total: int) -> None:
        self.bar.reset(total=total)

    def advance(self, done: int) -> None:
        self.bar.update(done)

    def close(self) -> None:
        self.bar.close()


class LineProgress:
    """The worker's progress, as marked lines its parent turns into a bar."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.total, self.done = stream, 0, 0

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        self._emit()

    def advance(self, done: int) -> None:
        self.done += done
        self._emit()

    def _emit(self) -> None:
        self.stream.write(f"{PROGRESS_MARK}{self.done} {self.total}\n")
        self.stream.flush()


class ProgressLM(LM):
    """An lm-eval model that hands requests to another a few at a time and reports progress.
    Results are the inner model's, request by request (no batching across chunks is needed:
    the demo's models score each request on its own).

    `dedupe=True` sends each distinct request (`args`) once and copies its answer to the
    repeats: only for models whose answer depends on `args` alone (lm-eval's `hf` greedy and
    log-likelihood; not the baseline judges, whose `random` coin reads the trial). Both
    candidate orders of the pointwise protocol repeat every request."""

    def __init__(self, inner: LM, progress: Progress, chunk: int, dedupe: bool = False) -> None:
        super().__init__()
        self.inner, self.progress, self.chunk, self.dedupe = inner, progress, chunk, dedupe

    def _run(self, method: str, requests: list[Any]) -> list[Any]:
        first: dict[str, int] = {}
        distinct: list[Any] = []
        slot = []
        for request in requests:
            key = repr(request.args) if self.dedupe else str(len(distinct))
            if key not in first:
                first[key] = len(distinct)
                distinct.append(request)
            slot.append(first[key])
        self.progress.start(len(distinct))
        answers: list[Any] = []
        for start in range(0, len(distinct), self.chunk):
            part = distinct[start:start + self.chunk]
            answers.extend(getattr(self.inner, method)(part))
            self.progress.advance(len(part))
        return [answers[i] for i in slot]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._run("loglikelihood", requests)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._run("loglikelihood_rolling", requests)

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        return self._run("generate_until", requests)

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.inner.apply_chat_template(chat_history, add_generation_prompt=add_generation_prompt)

    @property
    def tokenizer_name(self) -> str:
        return self.inner.tokenizer_name

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.inner.chat_template(chat_template)

    def get_model_info(self) -> dict[str, Any]:
        info = getattr(self.inner, "get_model_info", None)
        return info() if callable(info) else {}


@contextmanager
def chatter_to(target_fd: int) -> Iterator[tuple[TextIO, TextIO]]:
    """Send everything written to stdout and stderr (Python's streams, file descriptors 1 and 2
    for C libraries and child processes) to `target_fd`; yield streams to the real ones."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    out = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
    err = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8")
    chatter = os.fdopen(os.dup(target_fd), "w", buffering=1, encoding="utf-8")
    os.dup2(target_fd, 1)
    os.dup2(target_fd, 2)
    try:
        # Python's own streams too: they may not be file descriptors 1 and 2 (test capture)
        with redirect_stdout(chatter), redirect_stderr(chatter):
            yield out, err
    finally:
        chatter.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for stream in (out, err, chatter):
            stream.close()


def follow_progress(lines: IO[str], progress: Progress, log: TextIO) -> None:
    """Turn a child's marked lines into progress; everything else it prints goes to the log."""
    seen = 0
    for line in lines:
        if not line.startswith(PROGRESS_MARK):
            log.write(line)
            continue
        done, total = (int(x) for x in line[len(PROGRESS_MARK):].split())
        if done == 0:
            progress.start(total)
        else:
            progress.advance(done - seen)
        seen = done
