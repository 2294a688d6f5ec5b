"""Model calls for the model-driven build steps, through Inspect's model layer, cached.

Any model Inspect can call works (`openai/...`, `anthropic/...`, `vllm/...`, `hf/...`,
`mockllm/...`, a provider of ours). Every completion is appended to a JSON Lines cache in the
output folder, one self-verifying line per call (its own sha256), so an interrupted build
resumes without redoing finished calls; a torn or tampered line is ignored and counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model, get_model

EXAMPLES = "hf/HuggingFaceTB/SmolLM2-135M-Instruct, openai/gpt-4o-mini, mockllm/model"


class ModelError(RuntimeError):
    """A model name Inspect cannot make a model of: the message names the option and the model."""


def option_of(role: str) -> str:
    """The option that names a role's model (`toolprmbench build`'s; judge0, judge1: --judges;
    the blind reading's reader: `audit --reader`)."""
    return "--judges" if role.startswith("judge") else f"--{role}"


def _reason(exc: BaseException) -> str:
    """An Inspect error as one plain line (PrerequisiteError keeps its text, with console markup,
    in `message`)."""
    text = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    try:
        from rich.text import Text

        text = Text.from_markup(text).plain
    except Exception:  # noqa: BLE001 - not markup after all: keep the text as it is
        pass
    return " ".join(text.split())


def inspect_model(role: str, model: str | Model) -> Model:
    """Inspect's model for `model` (memoised by Inspect: asking again costs nothing), or a
    ModelError naming the option and the model instead of the provider's traceback."""
    if isinstance(model, Model):
        return model
    try:
        return get_model(model)  # inspect-evals-lint: ignore[get_model_location] -- the data builder calls models outside any eval
    except Exception as exc:  # noqa: BLE001 - any provider's failure to make the model: unknown API, package, key, weights
        raise ModelError(f"{option_of(role)} {model}: Inspect cannot make this model ({_reason(exc)}); check the "
                         f"name (an Inspect model name, provider/model, e.g. {EXAMPLES}) and what its provider needs "
                         "(a package, an API key)") from exc


def check_models(policy: str | None, annotator: str | None, judges: tuple[str, ...]) -> None:
    """Make every named model before any work, so a wrong name fails at once, not after the
    sources are loaded (the build's callers get the same memoised models)."""
    for role, model in (("policy", policy), ("annotator", annotator), *(("judge", j) for j in judges)):
        if model is not None:
            inspect_model(role, model)


class CallCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = {}
        self.rejected_lines = 0
        if path.is_file():
            # bytes, split at \n only and decoded per line: a line torn inside a UTF-8 character
            # (an interrupted append) is one rejected line, not an error for the whole cache
            for raw in path.read_bytes().split(b"\n"):
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw.decode("utf-8"))
                    body = json.dumps([entry["key"], entry["completion"]], ensure_ascii=False)
                    if hashlib.sha256(body.encode()).hexdigest() != entry["sha256"]:
                        raise ValueError("digest mismatch")
                    if not isinstance(entry["completion"], str):
                        raise TypeError("a completion is text")
                    self.entries[entry["key"]] = entry["completion"]
                except (ValueError, KeyError, TypeError, RecursionError):
                    self.rejected_lines += 1  # a torn last line after an interruption, or tampering

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, completion: str) -> None:
        self.entries[key] = completion
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps([key, completion], ensure_ascii=False)
        line = json.dumps({"key": key, "completion": completion,
                           "sha256": hashlib.sha256(body.encode()).hexdigest()}, ensure_ascii=False)
        with open(self.path, "ab") as handle:
            # after a torn last line, start a new one: appended to it, this entry would be lost too
            torn = handle.tell() > 0 and self._last_byte() != b"\n"
            handle.write((b"\n" if torn else b"") + (line + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def _last_byte(self) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1)


class ModelCaller:
    """One role's model (policy, annotator or a judge): cached, deterministic settings."""

    def __init__(self, role: str, model: str | Model, cache_dir: Path, max_tokens: int = 1024) -> None:
        self.role = role
        self.model = inspect_model(role, model)
        self.name = str(self.model)  # "provider/model", as Inspect names it
        self.cache = CallCache(cache_dir / f"{role}.jsonl")
        self.config = GenerateConfig(temperature=0.0, max_tokens=max_tokens, seed=0)
        self.calls_made = 0

    def key(self, prompt: str) -> str:
        return hashlib.sha256(json.dumps([self.name, prompt, self.config.model_dump(exclude_none=True)],
                                         sort_keys=True).encode()).hexdigest()

    async def generate(self, prompt: str) -> str:
        key = self.key(prompt)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            output = await self.model.generate(prompt, config=self.config)
        except Exception as exc:  # noqa: BLE001 - any provider's failure (a timeout, a 500), named
            # the build stops: an empty answer in its place would change the build's bytes in
            # silence (a vote unparsed, a rollout cut). Finished calls are cached: a rerun resumes.
            raise ModelError(f"{option_of(self.role)} {self.name}: a call failed ({_reason(exc)}); the finished "
                             f"calls are cached in {self.cache.path.parent}: run the same command again "
                             "to resume") from exc
        self.calls_made += 1
        self.cache.put(key, output.completion)
        return output.completion

    def generate_all(self, prompts: list[str]) -> list[str]:
        """Every prompt's answer (a failed call: ModelError, see `generate`)."""
        async def run() -> list[str]:
            return list(await asyncio.gather(*(self.generate(p) for p in prompts)))

        return asyncio.run(run())


def describe(caller: ModelCaller | None) -> dict[str, Any] | None:
    return None if caller is None else {"model": caller.name, "new_calls": caller.calls_made,
                                        "cached_calls": len(caller.cache.entries) - caller.calls_made,
                                        "rejected_cache_lines": caller.cache.rejected_lines}


def call_notes(caller: ModelCaller) -> list[str]:
    """What a build's user must know about a role's calls (the manifest holds no call counts:
    a rerun from the cache writes the same bytes): rejected cache lines, and answers taken
    from the cache, which is keyed by the model's name (new weights under the same name would
    reuse old answers)."""
    stats = describe(caller) or {}
    notes = []
    if stats["rejected_cache_lines"]:
        notes.append(f"{caller.role} {caller.name}: {stats['rejected_cache_lines']} line(s) of {caller.cache.path} "
                     "rejected (torn or changed): those calls were made again")
    if stats["cached_calls"]:
        notes.append(f"{caller.role} {caller.name}: {stats['cached_calls']} answer(s) from the cache "
                     f"{caller.cache.path} (keyed by the model's name and the prompt: after changing a model's "
                     "weights under the same name, delete it or use another --out)")
    return notes
