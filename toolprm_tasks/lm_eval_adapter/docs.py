"""lm-eval documents for ToolPRMBench: one row per trial, built by `custom_dataset`.

lm-eval calls `load_docs(**metadata, **dataset_kwargs)`: the task YAML fixes what the task
is through `dataset_kwargs`, every key with a `task_` prefix (`task_subset`, `task_protocol`,
`task_data`: official or rebuilt, `task_tier` for the rebuilt hard tier, `task_norm` for the
`_prm` tasks); users choose `order`, `order_seed`, `prompt` and `norm` with `--metadata
'{"order": "both"}'`. A key in both would be a TypeError inside lm-eval, hence the prefix; a
user's `subset`, `protocol`, `data` or `tier` is refused (the task decides them), as is a `norm`
other than a `_prm` task's. lm-eval 0.4.13 merges the `--model_args` into this metadata too,
which is why the seed is `order_seed`, not `seed` (vLLM's model args have a `seed`). A key
close to one of ours (`ordr`) is refused as a typo; other keys (the YAML's `version`, model
args, our package version) are ignored.
"""

from __future__ import annotations

import difflib
from typing import Any

from scorers.core import NORMS
from toolprm_tasks.brief_errors import for_lm_eval, lm_eval_brief
from toolprm_tasks.core.names import DATA_KINDS, ORDERS, check_choice
from toolprm_tasks.core.prompts import pairwise_prompt
from toolprm_tasks.core.protocols import DEFAULT_PROMPT, check_prompt_fits
from toolprm_tasks.core.protocols import protocol as protocol_named
from toolprm_tasks.core.render import render_action
from toolprm_tasks.core.trials import DEFAULT_SEED, PROTOCOLS, Trial, build_trials
from toolprm_tasks.data import DataError, DataUnavailable, fingerprint, load_subsets
from toolprm_tasks.engines.factory import check_value, whole
from toolprm_tasks.rebuild.errors import SourceError


def trial_doc(trial: Trial, *, protocol: str, prompt: str, norm: str) -> dict[str, Any]:
    """The row lm-eval sees: prompt texts, candidates, label and everything scorers need."""
    spec = pairwise_prompt(prompt)
    text = trial.pairwise_text(prompt)
    a1, a2 = trial.candidates
    doc = trial.metadata()
    doc.update({
        "protocol": protocol,
        "prompt_name": prompt,
        "order": trial.order,
        "norm": norm,
        "prompt": protocol_named(protocol).prompt_text(trial, prompt),
        "ll_context": text + spec.answer_prefix,
        "labels": list(spec.labels),
        "candidates": [render_action(a1), render_action(a2)],
        "target": spec.labels[trial.chosen_position - 1],
        "gold_index": trial.chosen_position - 1,
        "error_type_raw": trial.case.error_type_raw or "",
        "judge_view": trial.judge_view().to_json(),
    })
    return doc


_TASK_DECIDES = {
    "subset": "each subset has its own task (toolprmbench_bfcl, toolprmbench_tooltalk, ...)",
    "protocol": "each protocol has its own task (toolprmbench_<subset>, _pairwise_ll, _pointwise, _prm)",
    "data": "toolprmbench_rebuilt_* tasks run the rebuilt cases, toolprmbench_* the official ones",
    "tier": "toolprmbench_rebuilt_hard* tasks run the hard tier, toolprmbench_rebuilt_* every rebuilt case",
}


USER_KEYS = ("order", "order_seed", "prompt", "norm")  # what a user sets with --metadata


def _refuse_misspelled(others: dict[str, Any]) -> None:
    """A key close to one of ours (`ordr`, `promt`, `order_sed`) is a typo that would run the
    default in silence: refused, naming the key meant. Other unknown keys are let through (lm-eval
    0.4.13 merges `--model_args` into the metadata: a model's own argument lands here too)."""
    for key in others:
        close = difflib.get_close_matches(str(key), USER_KEYS, n=1, cutoff=0.8)
        if close:
            raise ValueError(f"--metadata key `{key}` is not one this task reads: did you mean `{close[0]}`? "
                             f"(it reads {', '.join(USER_KEYS)})")


def load_docs(task_subset: str, task_protocol: str, order: str = "seeded", order_seed: int | str = DEFAULT_SEED,
              prompt: str | None = None, norm: str | None = None, task_data: str = "official", task_tier: str = "all",
              task_norm: str | None = None, **others: Any) -> Any:
    """`custom_dataset` for every ToolPRMBench lm-eval task: a DatasetDict with a test split.

    The `task_` arguments come from the task YAML only: `subset`, `protocol`, `data` or `tier`
    in `--metadata` is refused (rebuilt cases can never run under an official task's name).
    `task_norm` (the `_prm` tasks': none) is the YAML's too: a `norm` that differs is refused."""
    import datasets

    subset, protocol = task_subset, task_protocol
    with lm_eval_brief(ValueError):  # a refused --metadata value: its message alone on lm_eval's command line
        for key, where in _TASK_DECIDES.items():
            if key in others:
                raise ValueError(f"`{key}` cannot be set with --metadata: the task decides it ({where})")
        _refuse_misspelled(others)
        if prompt is not None and not str(prompt).strip():
            raise ValueError("`prompt` is empty in --metadata: leave it out for the protocol's default, or name one "
                             "(standard, toolprm)")
        if task_norm is not None and norm is not None and norm != task_norm:
            raise ValueError(f"`norm` cannot be {norm!r} with --metadata for this task: the task fixes norm={task_norm!r} "
                             "(the _pointwise tasks take another norm)")
        norm = task_norm if task_norm is not None else "char" if norm is None else norm
        seed = check_value("order_seed", order_seed, whole())  # 1.9 or true must not run as seed 1
        data = check_choice("data", task_data, DATA_KINDS)
        check_choice("protocol", protocol, PROTOCOLS)
        check_prompt_fits(protocol, prompt)
        check_choice("order", order, ORDERS)
        check_choice("norm", norm, NORMS)
        prompt = prompt or DEFAULT_PROMPT[protocol]
        pairwise_prompt(prompt)  # validates the name
    try:
        (loaded,) = load_subsets([subset], data=data, tier=task_tier)
    except (DataError, SourceError) as exc:
        # the message says what to do (offline: which tasks run instead); lm_eval shows it
        # without a traceback (brief_errors), a library caller gets the exception as ever
        if isinstance(exc, DataUnavailable):
            raise for_lm_eval(exc.worded_for("lm-eval", protocol_named(protocol).task_suffix(norm))) from None
        raise for_lm_eval(exc) from None
    data_fingerprint = fingerprint([loaded])
    rows = []
    for trial in build_trials(loaded.cases, order=order, seed=seed):
        row = trial_doc(trial, protocol=protocol, prompt=prompt, norm=norm)
        row["order_seed"] = seed
        row["data_sha256"] = loaded.sha256
        row["data_unpinned"] = data_fingerprint["unpinned"]
        row["data"] = loaded.data
        row["tier"] = loaded.tier
        rows.append(row)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
