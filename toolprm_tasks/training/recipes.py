"""`toolprmbench train reward|grpo`: TRL's RewardTrainer and GRPOTrainer on the training split.

- `reward`: a scalar PRM. The base model is loaded as a sequence classifier with one label
  (TRL adds a seeded random head); each pair is the context with the chosen and with the
  rejected action, rendered by the `classifier` engine's own code (chat template, the
  engines' truncation rule), tokenised as the HF engine tokenises, so the trained model is
  scored at evaluation time on exactly the token ids it was trained on.
- `grpo`: a generative judge trained with the paper's GRPO recipe on its ToolPRM prompt; the
  reward is `training.reward.toolprm_reward`.

Settings: on a GPU the paper's hyper-parameters (appendix B), on a CPU small ones, chosen by
`torch.cuda.is_available()` (`--device` forces either); `SETTINGS` lists them. Sequences are
fitted to the length budget by the engines' rule (drop the oldest turns, keep the tool
descriptions and the instruction); a reward pair that still does not fit is cut at its start
(the last `max_length` tokens: the candidate and the latest turns stay), a GRPO prompt that
does not fit is left out. Both are counted per source, printed and recorded in
`toolprm_training.json` in the output folder: nothing is dropped silently, and TRL's own
length filter is checked to have removed nothing.

The output folder is a plain HF model folder: the model (`LlamaForSequenceClassification`
with `num_labels=1` and a pad token for `reward`; the causal LM for `grpo`), its tokenizer
with a chat template (a model without one gets `PLAIN_CHAT_TEMPLATE`, the engines' own
rendering for such models, so nothing changes for the engines), and `checkpoint-N`
subfolders (model-only, each one a loadable model folder) every `save_steps`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.trials import Trial
from toolprm_tasks.core.versions import package_versions
from toolprm_tasks.engines.base import EngineError, ScoreRequest, ScoringEngine, messages_for, shortened_histories
from toolprm_tasks.training.export import GRPO_PROMPT, Rows, grpo_rows, reward_rows
from toolprm_tasks.training.reward import toolprm_reward
from toolprm_tasks.training.splits import TrainingSplit, training_split

RECIPES: tuple[str, ...] = ("reward", "grpo")
DEVICES: tuple[str, ...] = ("auto", "cpu", "gpu")
RECORD_NAME = "toolprm_training.json"
TRAIN_EXTRA_HINT = "pip install 'toolprm-tasks[train]' (TRL 1.16; see docs/training.md)"

# What `engines.base.render_plain` writes for a tokenizer without a chat template, as a chat
# template: a model saved with it is rendered exactly as before by every engine.
PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if not loop.first %}{{ '\\n' }}{% endif %}"
    "{{ message['role'] }}: {{ message['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\\nassistant:' }}{% endif %}"
)


@dataclass(frozen=True)
class Settings:
    """One recipe's hyper-parameters on one kind of device."""

    epochs: float
    learning_rate: float
    batch_size: int  # per device: pairs (reward) or completions (grpo)
    grad_accum: int
    max_length: int  # reward: tokens of a whole sequence; grpo: of the prompt
    bf16: bool
    gradient_checkpointing: bool
    num_generations: int = 0  # grpo: G
    max_completion_length: int = 0  # grpo
    beta: float = 0.0  # grpo: the KL coefficient
    warmup_ratio: float = 0.0
    train_layers: int = 0  # reward: train only the top N decoder layers, the final norm and the head (0: all)


# Paper, appendix B: SFT 2 epochs lr 1e-5; GRPO 1 epoch, lr 2e-6, G=8, KL 0.01, prompt 2,048 /
# completion 4,096 tokens, bf16. The paper trains no scalar reward model: `reward` on a GPU uses
# its SFT schedule, with an 8k budget (BFCL's tool lists alone are 3-7k tokens). Batch sizes are
# not in the paper: ours. CPU: what a 2-core machine trains in minutes (docs/training.md).
SETTINGS: dict[tuple[str, str], Settings] = {
    ("reward", "gpu"): Settings(epochs=2, learning_rate=1e-5, batch_size=4, grad_accum=4, max_length=8192,
                                bf16=True, gradient_checkpointing=True, warmup_ratio=0.03),
    ("reward", "cpu"): Settings(epochs=1, learning_rate=5e-5, batch_size=1, grad_accum=4, max_length=512,
                                bf16=False, gradient_checkpointing=False, train_layers=6),
    ("grpo", "gpu"): Settings(epochs=1, learning_rate=2e-6, batch_size=8, grad_accum=8, max_length=2048,
                              bf16=True, gradient_checkpointing=True, num_generations=8,
                              max_completion_length=4096, beta=0.01),
    ("grpo", "cpu"): Settings(epochs=1, learning_rate=1e-6, batch_size=2, grad_accum=1, max_length=1024,
                              bf16=False, gradient_checkpointing=False, num_generations=2,
                              max_completion_length=32, beta=0.01),
}


class TrainingError(RuntimeError):
    """A run that cannot start or would train on something other than what was asked."""


def _require_trl() -> Any:
    try:
        import trl
    except ImportError as exc:
        raise TrainingError(f"`toolprmbench train` needs TRL ({exc}): {TRAIN_EXTRA_HINT}") from None
    return trl


def resolve_device(device: str) -> str:
    """`auto`: `gpu` when torch sees CUDA, else `cpu`."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    import torch

    if device == "gpu" and not torch.cuda.is_available():  # transformers' own refusal is a traceback, after loading
        raise TrainingError("--device gpu: torch sees no CUDA device here; use --device cpu (the small CPU "
                            "settings) or auto")
    if device != "auto":
        return device
    return "gpu" if torch.cuda.is_available() else "cpu"


# the fields a recipe does not read (the other recipe's)
_NOT_READ = {"reward": ("num_generations", "max_completion_length", "beta"), "grpo": ("train_layers",)}


def settings_for(recipe: str, device: str, **overrides: Any) -> Settings:
    """The recipe's settings for `device` (`cpu`/`gpu`), with the given fields replaced (None: kept),
    checked before any data or model is loaded."""
    base = SETTINGS[(recipe, device)]
    for name in _NOT_READ[recipe]:  # given, it would be ignored silently
        if overrides.get(name) is not None:
            other = "grpo" if recipe == "reward" else "reward"
            raise TrainingError(f"{name}: only the {other} recipe reads it, not {recipe}")
    settings = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
    for name in ("learning_rate", "epochs"):  # 0 trains nothing, nan/inf diverge: both "succeed" otherwise
        value = getattr(settings, name)
        if not (finite([value]) and value > 0):
            raise TrainingError(f"{name}={value}: must be a finite number above 0")
    if recipe == "grpo":
        if settings.num_generations < 2:
            raise TrainingError(f"num_generations={settings.num_generations}: GRPO needs at least 2 completions per "
                                "prompt (the advantage is relative to the group)")
        # TRL's generation batch: per device x accumulation x processes (`accelerate launch` sets WORLD_SIZE)
        processes = int(os.environ.get("WORLD_SIZE", "1") or 1)
        per_generation = settings.batch_size * settings.grad_accum * max(processes, 1)
        if per_generation % settings.num_generations:
            raise TrainingError(f"batch_size {settings.batch_size} x grad_accum {settings.grad_accum} = "
                                f"{per_generation} completions per generation batch is not a multiple of "
                                f"num_generations {settings.num_generations} (GRPO samples whole groups; "
                                "--batch-size, --grad-accum, --num-generations)")
    return settings


def load_tokenizer(model: str) -> tuple[Any, list[str]]:
    """The model's tokenizer, with a chat template and a pad token; the changes made, named."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    changes = []
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
        changes.append("no chat template: set PLAIN_CHAT_TEMPLATE (the engines' rendering without one)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        changes.append(f"no pad token: set to the eos token {tokenizer.eos_token!r}")
    return tokenizer, changes


class _Renderer(ScoringEngine):
    """The engines' prompt building (chat template, truncation rule, token counting) with a
    tokenizer only: training renders with the very code that renders at evaluation time."""

    def __init__(self, tokenizer: Any, kind: str, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_model_len = max_length
        super().__init__("<training>", kind, max_length)

    def _score_prompts(self, prompts: Sequence[str]) -> list[float]:
        raise NotImplementedError("renders only")

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])  # as the HF engine tokenises


def fit_candidate(renderer: _Renderer, case: Case, candidate: Any) -> tuple[list[int], str]:
    """The token ids of one classifier sequence within `renderer.max_length`, and how it was
    fitted: `whole`, `history_shortened` (the engines' rule), or `cut_at_start` (even the
    shortest history is too long: its last max_length tokens)."""
    request = ScoreRequest(case.history, case.functions, candidate)
    shortest = (shortened_histories(case.history) or [case.history])[-1]
    ids = renderer.ids(renderer.render(messages_for("classifier", request, shortest, renderer.fmt)))
    if len(ids) > renderer.max_length:  # the rule cannot fit it (checked first: each try tokenises it all)
        return ids[-renderer.max_length:], "cut_at_start"
    try:
        text, shortened = renderer.prompt_for(request)
    except EngineError as exc:  # cannot happen: the shortest history fits
        raise TrainingError(f"{case.id}: {exc}") from exc
    return renderer.ids(text), "history_shortened" if shortened else "whole"


def tokenized_pairs(rows: Rows, cases: dict[str, Case], tokenizer: Any, max_length: int) -> tuple[list[dict], dict]:
    """RewardTrainer's processed rows (`chosen_ids`, `rejected_ids`) and the fitting counts per
    source. A pair whose two sequences come out identical after cutting is a counted exclusion."""
    renderer = _Renderer(tokenizer, "classifier", max_length)
    out, counts = [], {}
    for row in rows.rows:
        case = cases[row["case_id"]]
        chosen, how_chosen = fit_candidate(renderer, case, case.chosen)
        rejected, how_rejected = fit_candidate(renderer, case, case.rejected)
        tally = counts.setdefault(case.subset, Counter())
        worst = max((how_chosen, how_rejected), key=("whole", "history_shortened", "cut_at_start").index)
        if chosen == rejected:
            tally["excluded_identical_after_cut"] += 1
            rows.skip("identical_after_cutting_to_max_length", case)
            continue
        tally[worst] += 1
        out.append({"chosen_ids": chosen, "rejected_ids": rejected, "case_id": case.id, "subset": case.subset})
    return out, {subset: dict(tally) for subset, tally in counts.items()}


def fitted_prompts(rows: Rows, cases: dict[str, Case], tokenizer: Any, max_length: int) -> tuple[list[dict], dict]:
    """GRPO rows whose prompt (chat template, generation prompt) fits `max_length` tokens,
    shortening the history by the engines' rule where needed; the rest are counted out."""
    kept, counts = [], {}
    for row in rows.rows:
        case = cases[row["case_id"]]
        tally = counts.setdefault(case.subset, Counter())
        fitted = None
        for how, history in [("whole", case.history), *(("history_shortened", h) for h in shortened_histories(case.history))]:
            trial = Trial(dataclasses.replace(case, history=history), row["chosen_position"], "seeded")
            prompt = [{"role": "user", "content": trial.pairwise_text(GRPO_PROMPT)}]
            ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
            if len(ids["input_ids"]) <= max_length:
                fitted = (how, prompt)
                break
        if fitted is None:
            tally["excluded_prompt_too_long"] += 1
            rows.skip(f"grpo_prompt_over_{max_length}_tokens", case)
            continue
        tally[fitted[0]] += 1
        kept.append({**row, "prompt": fitted[1]})
    return kept, {subset: dict(tally) for subset, tally in counts.items()}


def freeze_below(model: Any, train_layers: int) -> dict[str, int]:
    """Train only the top `train_layers` decoder layers, the final norm and everything outside
    the backbone (the score head): backward stops at the lowest trainable layer, so a CPU step
    costs about a third of the forward pass less per frozen layer. A model with no more than
    `train_layers` layers is trained whole. Returns parameter counts (recorded and printed)."""
    prefix = model.base_model_prefix
    layers = int(model.config.get_text_config().num_hidden_layers)
    if train_layers < 1:
        raise TrainingError(f"train_layers={train_layers}: must be at least 1 (0 trains every layer)")
    top = tuple(f"{prefix}.layers.{i}." for i in range(max(layers - train_layers, 0), layers))
    whole = train_layers >= layers  # embeddings too: nothing is frozen
    names = [name for name, _ in model.named_parameters()]
    if not any(name.startswith(f"{prefix}.layers.") for name in names):
        raise TrainingError(f"train_layers: no `{prefix}.layers.N` parameters in {type(model).__name__}; "
                            "leave it at 0 (train every layer)")
    counts = {"trainable": 0, "frozen": 0}
    for name, param in model.named_parameters():
        trainable = whole or name.startswith(top) or name.startswith(f"{prefix}.norm") \
            or not name.startswith(f"{prefix}.")
        param.requires_grad_(trainable)
        counts["trainable" if trainable else "frozen"] += param.numel()
    return counts


class _StepTimer:
    """Wall time of every optimizer step (a TrainerCallback built lazily: transformers is optional)."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                timer.started = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                timer.seconds.append(time.perf_counter() - timer.started)

        self.started = 0.0
        self.seconds: list[float] = []
        self.callback = Callback()

    def summary(self) -> dict[str, Any]:
        steps = self.seconds
        later = steps[1:] or steps  # the first step carries one-off costs
        return {"steps": len(steps), "total_s": round(sum(steps), 2),
                "mean_step_s": round(sum(later) / len(later), 3) if later else None,
                "first_step_s": round(steps[0], 3) if steps else None}


def _common_args(settings: Settings, out: Path, device: str, max_steps: int | None, save_steps: int | None,
                 seed: int, logging_steps: int) -> dict[str, Any]:
    return {
        "output_dir": str(out), "num_train_epochs": settings.epochs, "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.batch_size, "gradient_accumulation_steps": settings.grad_accum,
        "max_steps": max_steps if max_steps else -1, "bf16": settings.bf16, "fp16": False,
        "gradient_checkpointing": settings.gradient_checkpointing, "warmup_steps": settings.warmup_ratio,  # a float below 1: a share of the steps
        "use_cpu": device == "cpu", "seed": seed, "data_seed": seed, "report_to": "none",
        # a nan loss is logged as nan, not hidden (transformers' default filters it out)
        "logging_steps": logging_steps, "logging_nan_inf_filter": False,
        "save_strategy": "steps" if save_steps else "no",
        "save_steps": save_steps or 500, "save_only_model": True, "save_total_limit": None,
        "disable_tqdm": True, "dataloader_num_workers": 0,
    }


def _versions() -> dict[str, str]:
    return {**package_versions("trl", "transformers", "torch", "datasets", "accelerate"),
            "python": platform.python_version()}


def _write_record(out: Path, record: dict[str, Any]) -> None:
    (out / RECORD_NAME).write_text(json.dumps(record, indent=1, ensure_ascii=False, default=str), encoding="utf-8")


def _losses(log_history: list[dict[str, Any]]) -> list[float]:
    return [float(entry["loss"]) for entry in log_history if "loss" in entry]


def _check_finite(trainer: Any, out: Path) -> None:
    """Refuse to save a run that diverged: a non-finite logged loss or weight (a learning rate
    too high, a broken sequence) would otherwise be saved as a model that scores nan."""
    import torch

    losses = _losses(trainer.state.log_history)
    bad_loss = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
    bad_weight = next((name for name, param in trainer.model.named_parameters()
                       if not bool(torch.isfinite(param).all())), None)
    if bad_loss is None and bad_weight is None:
        return
    what = f"logged loss {bad_loss + 1} of {len(losses)} is {losses[bad_loss]}" if bad_loss is not None \
        else f"parameter {bad_weight} has non-finite values"
    removed = _remove_non_finite_checkpoints(out)
    raise TrainingError(f"{out}: the run diverged ({what}) after {trainer.state.global_step} steps; the model was not "
                        f"saved{'; removed ' + ', '.join(removed) + ' (non-finite weights)' if removed else ''}; "
                        "lower --learning-rate and use a new --out")


def _remove_non_finite_checkpoints(out: Path) -> list[str]:
    """The checkpoint-N folders of a diverged run whose weights are not all finite, removed (the
    folder was empty before the run: they are this run's); the finite ones stay."""
    import torch  # lazy: torch and safetensors load only where a run is checked
    from safetensors import safe_open

    removed = []
    for folder in sorted(out.glob("checkpoint-*")):
        for weights in folder.glob("*.safetensors"):
            with safe_open(str(weights), framework="pt") as tensors:
                if any(not bool(torch.isfinite(tensors.get_tensor(k)).all()) for k in tensors.keys()):
                    shutil.rmtree(folder)
                    removed.append(folder.name)
                    break
    return removed


@dataclass
class Run:
    """What a recipe produced: the output folder and its record."""

    out: Path
    record: dict[str, Any]


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TrainingError(f"{out}: exists and is not an empty folder; choose a new --out (a trained model is "
                            "never written over another)")


def _split(data: str, subsets: Sequence[str] | None, data_seed: int) -> tuple[TrainingSplit, dict[str, Case]]:
    split = training_split(data, subsets, data_seed)
    cases = {}
    for case in split.cases:
        if case.id in cases:  # ids are per file; two sources never share a prefix
            raise TrainingError(f"two training cases share the id {case.id}")
        cases[case.id] = case
    return split, cases


def _check_run_length(max_steps: int | None, overrides: dict[str, Any]) -> None:
    """`max_steps` is transformers' `max_steps`: the run's length in optimizer steps, past the
    epochs if need be (it overrides them). Both given, one would be ignored in silence."""
    if max_steps and overrides.get("epochs") is not None:
        raise TrainingError("--max-steps and --epochs: give one; --max-steps sets the run's length in optimizer "
                            "steps and overrides the epochs (transformers' max_steps)")


def _settings_record(settings: Settings, max_steps: int | None) -> dict[str, Any]:
    """The settings as the run used them: with `max_steps`, the epochs decided nothing."""
    record = dataclasses.asdict(settings)
    if max_steps:
        record["epochs"] = None
    return record


def train_reward(model: str, out: Path, *, data: str = "rebuilt", subsets: Sequence[str] | None = None,
                 max_steps: int | None = None, device: str = "auto", save_steps: int | None = None, seed: int = 0,
                 data_seed: int = 0, logging_steps: int | None = None, **overrides: Any) -> Run:
    """Train a scalar reward model (RewardTrainer) on the training split; returns the run.
    `seed`: the head, the data order; `data_seed`: which rebuilt build (`export --data-seed`)."""
    trl = _require_trl()
    from datasets import Dataset

    out = Path(out)
    _check_out(out)
    _check_run_length(max_steps, overrides)
    device = resolve_device(device)
    settings = settings_for("reward", device, **overrides)
    split, cases = _split(data, subsets, data_seed)
    rows = reward_rows(split.cases)
    tokenizer, tokenizer_changes = load_tokenizer(model)
    try:
        pairs, fitting = tokenized_pairs(rows, cases, tokenizer, settings.max_length)
    except EngineError as exc:  # the prompt skeleton alone is longer than --max-length
        raise TrainingError(f"--max-length {settings.max_length}: {exc}") from None
    if not pairs:
        raise TrainingError(f"no training pair to train on ({rows.summary()['skipped']})")
    dataset = Dataset.from_list(pairs)
    config = trl.RewardConfig(**_common_args(settings, out, device, max_steps, save_steps, seed,
                                             logging_steps or (1 if device == "cpu" else 10)),
                              max_length=settings.max_length, model_init_kwargs={"dtype": "float32"})
    timer = _StepTimer()
    frozen = None
    model_arg: Any = model
    if settings.train_layers:
        from transformers import AutoModelForSequenceClassification, set_seed

        set_seed(seed)  # as RewardTrainer does before it adds the random head
        model_arg = AutoModelForSequenceClassification.from_pretrained(model, num_labels=1, dtype="float32")
        frozen = freeze_below(model_arg, settings.train_layers)
        config.model_init_kwargs = None
    trainer = trl.RewardTrainer(model=model_arg, args=config, train_dataset=dataset, processing_class=tokenizer,
                                callbacks=[timer.callback])
    if len(trainer.train_dataset) != len(dataset):  # TRL filters over-long pairs silently: ours all fit
        raise TrainingError(f"TRL's length filter left {len(trainer.train_dataset)} of {len(dataset)} pairs")
    started = time.perf_counter()
    trainer.train()
    _check_finite(trainer, out)
    trainer.save_model(str(out))
    record = {
        "recipe": "reward", "base_model": str(model), "device": device, "settings": _settings_record(settings, max_steps),
        "max_steps": max_steps, "save_steps": save_steps, "seed": seed, "data_seed": data_seed,
        "data": split.describe(),
        "export": rows.summary(), "fitting": fitting, "tokenizer_changes": tokenizer_changes, "parameters": frozen,
        "losses": _losses(trainer.state.log_history), "log_history": trainer.state.log_history,
        "global_step": trainer.state.global_step, "timing": {**timer.summary(), "train_s": round(time.perf_counter() - started, 2)},
        "versions": _versions(), "rendering": "engines.base: classifier messages, chat template, the engines' "
                                               "truncation rule, ids as the HF engine tokenises",
    }
    _write_record(out, record)
    return Run(out, record)


def train_grpo(model: str, out: Path, *, data: str = "rebuilt", subsets: Sequence[str] | None = None,
               max_steps: int | None = None, device: str = "auto", save_steps: int | None = None, seed: int = 0,
               data_seed: int = 0, logging_steps: int | None = None, generation_kwargs: dict[str, Any] | None = None,
               **overrides: Any) -> Run:
    """Train a generative judge with GRPO on the ToolPRM prompt; returns the run (seeds as `train_reward`).
    `generation_kwargs` go to TRL's sampling as they are (e.g. a model's recommended top_k)."""
    trl = _require_trl()
    from datasets import Dataset


    out = Path(out)
    _check_out(out)
    _check_run_length(max_steps, overrides)
    device = resolve_device(device)
    settings = settings_for("grpo", device, **overrides)
    split, cases = _split(data, subsets, data_seed)
    rows = grpo_rows(split.cases, seed)
    tokenizer, tokenizer_changes = load_tokenizer(model)
    tokenizer.padding_side = "left"  # GRPO generates: prompts padded on the left
    kept, fitting = fitted_prompts(rows, cases, tokenizer, settings.max_length)
    if not kept:
        raise TrainingError(f"no GRPO prompt fits {settings.max_length} tokens ({rows.summary()['skipped']})")
    dataset = Dataset.from_list(kept)
    common = _common_args(settings, out, device, max_steps, save_steps, seed,
                          logging_steps or (1 if device == "cpu" else 10))
    config = trl.GRPOConfig(**common, num_generations=settings.num_generations,
                            max_completion_length=settings.max_completion_length, beta=settings.beta,
                            model_init_kwargs={"dtype": "float32"}, log_completions=False,
                            generation_kwargs=generation_kwargs)
    timer = _StepTimer()
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[toolprm_reward], args=config, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[timer.callback])
    started = time.perf_counter()
    trainer.train()
    _check_finite(trainer, out)
    trainer.save_model(str(out))
    losses = _losses(trainer.state.log_history)
    rewards = [float(e["reward"]) for e in trainer.state.log_history if "reward" in e]
    record = {
        "recipe": "grpo", "base_model": str(model), "device": device, "settings": _settings_record(settings, max_steps),
        "max_steps": max_steps, "save_steps": save_steps, "seed": seed, "data_seed": data_seed,
        "data": split.describe(),
        "export": rows.summary(), "fitting": fitting, "tokenizer_changes": tokenizer_changes,
        "losses": losses, "rewards": rewards, "log_history": trainer.state.log_history,
        "global_step": trainer.state.global_step,
        "timing": {**timer.summary(), "train_s": round(time.perf_counter() - started, 2)},
        "versions": _versions(), "reward_function": "toolprm_tasks.training.reward.toolprm_reward",
        "generation_kwargs": generation_kwargs,
    }
    _write_record(out, record)
    return Run(out, record)


def finite(values: Sequence[float]) -> bool:
    return bool(values) and all(math.isfinite(v) for v in values)
