"""One refusal for a checkpoint that lacks the weights a kind of model scores with.

Loading a causal LM as a sequence classifier (`kind=classifier`, the default) or a classifier
as a causal LM (`kind=verifier`) makes the missing head newly initialised: every score is
random, and different on every load. Both backends refuse instead, with the same error
(`missing_weights_error`: the model, the kind, the missing weights, and the kind that fits
the checkpoint):
- HF: transformers' own loading info (`output_loading_info=True`: its missing keys, which
  leave out tied weights such as an LM head tied to the embeddings);
- vLLM: before the engine starts, `check_head_weights` compares the weights of the kind's
  head (transformers' class for the kind, built on the meta device from the checkpoint's
  config: no memory, no weights) with the tensor names in the checkpoint's safetensors headers
  (read without loading a tensor). vLLM 0.32 would not score at random here, but it fails
  late and obscurely: a causal LM under the pooling runner is refused at the first
  `classify` ("Classification API is not supported by this model"), a classifier under the
  generate runner at start-up ("no module or parameter named 'score'").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toolprm_tasks.engines.base import EngineError

logger = logging.getLogger(__name__)

# the transformers auto class that loads each kind (the HF engine's loaders)
AUTO_CLASSES = {"classifier": "AutoModelForSequenceClassification", "step": "AutoModelForTokenClassification",
                "label-token": "AutoModelForCausalLM", "verifier": "AutoModelForCausalLM",
                "pairwise": "AutoModelForCausalLM"}
# what a checkpoint's architecture name says it is, and the kinds it can score as
_KINDS_OF_ARCHITECTURE = (("ForSequenceClassification", "classifier"), ("ForTokenClassification", "step"),
                          ("ProcessRewardModel", "step"), ("ForCausalLM", "verifier, label-token or pairwise"),
                          ("ForConditionalGeneration", "verifier, label-token or pairwise"))
SHOWN = 8  # missing weight names listed in the error; the rest are counted


def suggested_kind(architectures: Iterable[str] | None) -> str | None:
    """The kind(s) a checkpoint of these architectures scores as, or None when unknown."""
    for architecture in architectures or ():
        for suffix, kinds in _KINDS_OF_ARCHITECTURE:
            if str(architecture).endswith(suffix):
                return kinds
    return None


def missing_weights_error(model: str, kind: str, missing: Iterable[str],
                          architectures: Iterable[str] | None = None) -> EngineError:
    """The error both backends raise when the checkpoint lacks weights the kind needs."""
    names = sorted(missing)
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    architectures = list(architectures or ())
    what = f" ({', '.join(architectures)})" if architectures else ""
    kinds = suggested_kind(architectures)
    hint = f"; use kind={kinds}" if kinds and kind not in kinds.replace(",", " ").split() else ""
    return EngineError(f"{model}: the checkpoint{what} has no weights for {shown}, which kind={kind} needs: they "
                       f"would be newly initialised and every score random{hint}")


def checkpoint_tensor_names(model: str) -> set[str] | None:
    """The tensor names of a local checkpoint's safetensors files (headers only), or None when
    there is no such folder or file to read (a hub name, `.bin` weights)."""
    folder = Path(model)
    index = folder / "model.safetensors.index.json"
    try:
        if index.is_file():
            return set(json.loads(index.read_text(encoding="utf-8"))["weight_map"])
        files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        if not files:
            return None
        from safetensors import safe_open

        names: set[str] = set()
        for path in files:
            with safe_open(str(path), framework="np") as handle:
                names.update(handle.keys())
        return names
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("%s: could not read the checkpoint's tensor names (%s); its weights are not checked", model, exc)
        return None


def _head_weights(model: str, kind: str) -> tuple[set[str], list[str]] | None:
    """The weights of the kind's head (outside the base model, tied ones left out) as
    transformers builds the kind's class for this config, and the checkpoint's architectures;
    None when transformers cannot build it (an architecture only vLLM knows)."""
    try:
        import torch
        import transformers
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
        architectures = list(getattr(config, "architectures", None) or [])
        if any(getattr(transformers, name, None) is None for name in architectures):
            return None  # e.g. Qwen2ForProcessRewardModel: vLLM's own weight names, not transformers'
        with torch.device("meta"):
            built = getattr(transformers, AUTO_CLASSES[kind]).from_config(config)
    except Exception:  # noqa: BLE001 - no readable config or no class for it: vLLM reports the real problem
        return None
    prefix = f"{built.base_model_prefix}."
    tied = getattr(built, "all_tied_weights_keys", None)
    if tied is None:  # older transformers: tied only when the config says so
        tied = getattr(built, "_tied_weights_keys", None) if getattr(config, "tie_word_embeddings", False) else None
    tied_names = set(tied or ())
    head = {name for name in built.state_dict() if not name.startswith(prefix) and name not in tied_names}
    return head, architectures


def check_head_weights(model: str, kind: str) -> None:
    """Refuse (`missing_weights_error`) a local checkpoint whose safetensors lack the weights
    of the kind's head; where the checkpoint or its class cannot be read, nothing is checked."""
    names = checkpoint_tensor_names(model)
    if names is None:
        return
    found = _head_weights(model, kind)
    if found is None:
        return
    head, architectures = found
    missing = head - names
    if missing:
        raise missing_weights_error(model, kind, missing, architectures)


def all_weights_loaded(model: str, kind: str, loaded: tuple[Any, dict[str, Any]]) -> Any:
    """The model from transformers' `(model, loading_info)`, refused when weights were missing
    from the checkpoint (newly initialised) or had the wrong shape."""
    built, info = loaded
    missing = set(info.get("missing_keys") or ()) | {str(k[0]) if isinstance(k, tuple) else str(k)
                                                     for k in info.get("mismatched_keys") or ()}
    if missing:
        raise missing_weights_error(model, kind, missing, getattr(built.config, "architectures", None))
    return built
