"""The rebuilt tasks under two (or more) lm-eval versions, every number compared to the last digit.

Each `--lm-eval` is the `lm_eval` command of a separate environment (`make
check-lm-eval-versions` builds one per version). Every baseline judge runs the rebuilt groups of
every protocol (generative, pairwise likelihood, pointwise, PRM) in both orders through that
command line, on one rebuilt set (`--rebuilt`, shared by all runs); then every metric of every
task and group, its standard error, the sample counts and the metric directions are compared
between the versions. Prints the table of the headline metrics, writes `comparison.json`
under `--out` and exits 1 on any difference (or a run that fails).

    python benchmarks/lm_eval_versions.py --rebuilt DIR --out DIR \\
        --lm-eval venvA/bin/lm_eval --lm-eval venvB/bin/lm_eval
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

JUDGES = ("first", "random", "schema", "longer")
TASKS = ("toolprmbench_rebuilt", "toolprmbench_rebuilt_pairwise_ll", "toolprmbench_rebuilt_pointwise",
         "toolprmbench_rebuilt_prm")
HEADLINE = ("acc", "consistency", "first_rate", "parse_fail")


def lm_eval_version(command: Path) -> str:
    """The lm-eval version installed beside `command` (its environment's python)."""
    probe = "import importlib.metadata as m; print(m.version('lm_eval'))"
    return subprocess.run([str(command.parent / "python"), "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip()


def run(command: Path, judge: str, out: Path, rebuilt: Path) -> dict[str, Any]:
    """One lm_eval command line; its results file, read back."""
    env = {**os.environ, "TOOLPRMBENCH_REBUILT_DIR": str(rebuilt), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)  # each environment's own install of this package, nothing else
    args = [str(command), "--model", "toolprm-baseline", "--model_args", f"judge={judge}", "--tasks", ",".join(TASKS),
            "--metadata", json.dumps({"order": "both"}), "--output_path", str(out)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    files = sorted(out.rglob("results_*.json"))
    if not files:
        raise SystemExit(f"{' '.join(args)}: no results file under {out}")
    return json.loads(files[-1].read_text(encoding="utf-8"))


def numbers(results: dict[str, Any]) -> dict[str, Any]:
    """What must agree: every metric (and stderr) of every task and group, the sample counts,
    the task versions, the metric directions. Floats as `repr` (every digit; NaN is 'nan')."""
    out: dict[str, Any] = {}
    for task, values in results["results"].items():
        for key, value in values.items():
            if key not in ("alias", "name", "sample_len", "sample_count"):
                out[f"{task} {key}"] = repr(value) if isinstance(value, float) else value
    for task, counts in results.get("n-samples", {}).items():
        out[f"{task} n-samples"] = counts.get("effective")
    for task, version in results.get("versions", {}).items():
        out[f"{task} version"] = version
    for task, directions in results.get("higher_is_better", {}).items():
        for name, better in directions.items():
            out[f"{task} higher_is_better {name}"] = better
    return out


def _cell(value: Any) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else f"{value}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lm-eval", action="append", type=Path, required=True, dest="commands",
                        help="an lm_eval command of its own environment (give two or more)")
    parser.add_argument("--rebuilt", type=Path, required=True, help="the rebuilt set (toolprmbench build --out)")
    parser.add_argument("--out", type=Path, required=True, help="results folder (each version's lm-eval output)")
    parser.add_argument("--judges", default=",".join(JUDGES))
    args = parser.parse_args()
    if len(args.commands) < 2:
        parser.error("give --lm-eval at least twice")
    judges = args.judges.split(",")

    versions = [lm_eval_version(c) for c in args.commands]
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    for command, version in zip(args.commands, versions, strict=True):
        for judge in judges:
            start = time.perf_counter()
            results = run(command, judge, args.out / f"lm-eval-{version}" / judge, args.rebuilt)
            seconds[f"{version} {judge}"] = round(time.perf_counter() - start, 1)
            runs.setdefault(judge, {})[version] = numbers(results)
            print(f"lm-eval {version}, judge {judge}: {len(runs[judge][version])} values "
                  f"({seconds[f'{version} {judge}']} s)", file=sys.stderr)

    differences = []
    for judge, by_version in runs.items():
        reference = by_version[versions[0]]
        for version in versions[1:]:
            other = by_version[version]
            for key in sorted(set(reference) | set(other)):
                if reference.get(key, "<missing>") != other.get(key, "<missing>"):
                    differences.append({"judge": judge, "value": key, versions[0]: reference.get(key, "<missing>"),
                                        version: other.get(key, "<missing>")})

    header = ["judge", "task", *(f"{m} ({v})" for m in HEADLINE for v in versions)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for judge, by_version in runs.items():
        tasks = sorted({key.split(" ")[0] for key in by_version[versions[0]] if key.endswith(" acc,none")})
        for task in tasks:
            cells = [by_version[v].get(f"{task} {m},none", "-") for m in HEADLINE for v in versions]
            print(f"| {judge} | {task} | " + " | ".join(_cell(c) for c in cells) + " |")
    compared = sum(len(by_version[versions[0]]) for by_version in runs.values())
    verdict = (f"{compared} values per version compared ({len(judges)} judges x {len(TASKS)} groups with their "
               f"tasks): {'all equal' if not differences else f'{len(differences)} differ'}")
    print(verdict)
    for difference in differences[:50]:
        print("DIFFERS:", json.dumps(difference))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(json.dumps(
        {"lm_eval_versions": versions, "judges": judges, "tasks": TASKS, "seconds": seconds, "compared": compared,
         "differences": differences, "values": runs}, indent=1), encoding="utf-8")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
