"""Every check that needs a GPU, in one run on a fresh copy of the repository.

    python3 benchmarks/gpu_checks.py [--out DIR] [--steps a,b,...] [--budget SECONDS] [--dry-run]
    make gpu-checks [GPU_OUT=DIR]

Steps, in order (estimated minutes on one H100, from the CPU timings in docs/performance.md and
docs/real-model.md; not yet measured on a GPU):

  preflight       a GPU (nvidia-smi) and a package source (registry, or --wheels), else exit 3 at once
  install         `make install-gpu`: .venv with torch (CUDA build), the pinned vLLM, this package
                  (registry download: about 5 min for about 4 GB; no device time if --no-install)
  data            the rebuilt set (toolprmbench build --source bfcl tooltalk)            0.5
  model           SmolLM2-135M-Instruct converted once (toolprmbench model smollm2)      0.5
  engine-tests    tests/test_vllm_api.py and every test marked vllm, on CUDA             4
  bench-prm       benchmarks/prm_throughput/run.py whole (random Qwen2-0.5B classifier)  3
  bench-prm-real  the same with --real-model (SmolLM2 as a verifier)                     2.5
  real-model      benchmarks/real_model_figures.py on every rebuilt case, four protocols 7

About 18 minutes after the install: more than one device call of 10 minutes. `--budget` skips a
step whose estimate no longer fits (recorded as skipped); `--steps` picks steps (prerequisites
are not added: a machine kept warm keeps .venv, the data and the model between calls).

Output (the folder from --out, else $OUT, else benchmarks/out/gpu): summary.json (the machine,
each step's status, seconds and last log lines; written after every step, so a run cut short
still says how far it got) and one JSON per check: engine_tests.json, prm_throughput.json,
prm_throughput_real.json, real_model_figures.json. Full logs stay in build/gpu-checks/.
Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "gpu-checks"
NO_GPU = 3  # exit status: no GPU on this machine
NO_PACKAGES = 4  # exit status: nothing to install from
REAL_MODEL_BATCH = 32  # the hf rows' batch on a GPU (batch 1 would take hours on the whole set)


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    minutes: float  # estimate on one H100 (0: no device time worth counting)
    prerequisite: bool = False  # a failure stops the run


STEPS = (
    Step("preflight", "a GPU and a package source, or stop at once", 0, True),
    Step("install", "make install-gpu: .venv with torch (CUDA), the pinned vLLM, this package", 5, True),
    Step("data", "the rebuilt set: toolprmbench build --source bfcl tooltalk", 0.5, True),
    Step("model", "SmolLM2-135M-Instruct: toolprmbench model smollm2", 0.5, True),
    Step("engine-tests", "tests/test_vllm_api.py and every test marked vllm, on CUDA", 4),
    Step("bench-prm", "benchmarks/prm_throughput/run.py, every case (random Qwen2-0.5B classifier)", 3),
    Step("bench-prm-real", "benchmarks/prm_throughput/run.py --real-model, every case", 2.5),
    Step("real-model", "benchmarks/real_model_figures.py --per-subset 0: four protocols, every case", 7),
)


class Checks:
    def __init__(self, out: Path, venv: Path, wheels: Path | None, install: bool) -> None:
        self.out, self.venv, self.wheels, self.install_wanted = out, venv, wheels, install
        self.python = venv / "bin" / "python"
        self.summary: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "steps": {}}

    # ------------------------------------------------------------------ the commands of each step
    def commands(self, step: str) -> list[list[str]]:
        """The commands of a step, as run (and as `--dry-run` prints them)."""
        py, bench = str(self.python), str(ROOT / "benchmarks")
        toolprmbench = str(self.venv / "bin" / "toolprmbench")
        return {
            "preflight": [["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                          [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", "<tmp>", "pip"]],
            "install": ([["make", "install-gpu", f"PYTHON={sys.executable}", f"VENV={self.venv}"]]
                        if self.install_wanted else []) + [[py, "-c", _PROBE]],
            "data": [[toolprmbench, "build", "--source", "bfcl", "tooltalk", "--out", str(WORK / "rebuilt")]],
            "model": [[toolprmbench, "model", "smollm2"]],
            "engine-tests": [[py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_vllm_api.py",
                              "--junitxml", str(WORK / "api_tests.xml")],
                             [py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "vllm",
                              "--junitxml", str(WORK / "vllm_tests.xml")]],
            "bench-prm": [[py, f"{bench}/prm_throughput/run.py", "--out", str(self.out / "prm_throughput.json")]],
            "bench-prm-real": [[py, f"{bench}/prm_throughput/run.py", "--real-model",
                                "--out", str(self.out / "prm_throughput_real.json")]],
            "real-model": [[py, f"{bench}/real_model_figures.py", "--per-subset", "0",
                            "--batch-size", str(REAL_MODEL_BATCH), "--out", str(self.out / "real_model_figures.json")]],
        }[step]

    def env(self, step: str) -> dict[str, str]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)  # the venv's own install of this checkout
        if self.wheels is not None:  # install from these wheels only
            env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(self.wheels))
        if step in ("bench-prm", "bench-prm-real", "real-model"):
            env["TOOLPRMBENCH_REBUILT_DIR"] = str(WORK / "rebuilt")
        return env

    # ------------------------------------------------------------------ running
    def run(self, step: Step) -> dict:
        log_path = WORK / f"{step.name}.log"
        if step.name == "preflight":
            return self.preflight()
        with open(log_path, "w", encoding="utf-8") as log:
            for command in self.commands(step.name):
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
                code = subprocess.run(command, cwd=ROOT, env=self.env(step.name), stdout=log, stderr=subprocess.STDOUT,
                                      check=False).returncode
                if code != 0:
                    return {"status": "failed", "exit": code, "command": " ".join(command), "log": str(log_path),
                            "log_tail": _tail(log_path)}
        result = {"status": "passed", "log": str(log_path)}
        if step.name == "install":
            result["versions"] = json.loads(_tail(log_path, 1)[-1])
        if step.name == "engine-tests":
            tests = _junit(WORK / "api_tests.xml") + _junit(WORK / "vllm_tests.xml")
            (self.out / "engine_tests.json").write_text(json.dumps(tests, indent=1), encoding="utf-8")
            result["tests"] = {k: sum(1 for t in tests if t["outcome"] == k) for k in ("passed", "failed", "skipped")}
        return result

    def preflight(self) -> dict:
        """A GPU, and somewhere to install from: checked before anything long starts."""
        nvidia_smi = shutil.which("nvidia-smi")
        gpus = []
        if nvidia_smi:
            proc = subprocess.run(self.commands("preflight")[0], capture_output=True, text=True, check=False)
            gpus = [line.strip() for line in proc.stdout.splitlines() if line.strip()] if proc.returncode == 0 else []
        if not gpus:
            raise Stop(NO_GPU, "no GPU on this machine (nvidia-smi " + ("lists none" if nvidia_smi else "not found")
                       + "): the GPU checks need one NVIDIA GPU; nothing was installed or run")
        result = {"status": "passed", "gpus": gpus, "package_source": "none needed (--no-install)"}
        if self.install_wanted:
            if self.wheels is not None:
                if not any(self.wheels.glob("*.whl")):
                    raise Stop(NO_PACKAGES, f"--wheels {self.wheels}: no wheels there")
                result["package_source"] = f"wheels in {self.wheels} (no index)"
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    probe = [tmp if part == "<tmp>" else part for part in self.commands("preflight")[1]]
                    try:
                        reachable = subprocess.run(probe, capture_output=True, timeout=90, check=False).returncode == 0
                    except subprocess.TimeoutExpired:
                        reachable = False
                if not reachable:
                    raise Stop(NO_PACKAGES, "no package registry answers from this machine (pip download pip failed): "
                               "install needs torch (CUDA), vLLM and this package's dependencies, about 4 GB; give "
                               "--wheels DIR with all of them, or --no-install with a ready .venv")
                result["package_source"] = "the package registry pip is configured with"
        return result

    def write_summary(self) -> None:
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=1), encoding="utf-8")


class Stop(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# torch sees the GPU and vLLM imports: the last line of the install log, read back as JSON
_PROBE = ("import json, torch, vllm; assert torch.cuda.is_available(), 'torch sees no GPU'; "
          "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'vllm': vllm.__version__, "
          "'gpu': torch.cuda.get_device_name(0)}))")


def _tail(path: Path, lines: int = 40) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:] if path.is_file() else []


def _junit(path: Path) -> list[dict]:
    """pytest's JUnit XML as one record per test (missing file: no tests recorded)."""
    if not path.is_file():
        return []
    records = []
    for case in ET.parse(path).iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome, message = ("skipped" if tag == "skipped" else "failed"), (found.get("message") or "")[:2000]
        records.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                        "seconds": float(case.get("time") or 0), "message": message})
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: $OUT, else benchmarks/out/gpu)")
    parser.add_argument("--steps", default=",".join(s.name for s in STEPS), help="comma list of steps, in any order")
    parser.add_argument("--budget", type=float, default=None, help="seconds: skip a step whose estimate no longer fits")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--wheels", type=Path, default=None, help="install from these wheels only (no index)")
    parser.add_argument("--no-install", action="store_true", help="use the ready --venv as it is")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and their commands; run nothing")
    args = parser.parse_args()
    out = (args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks" / "out" / "gpu"))
    wanted = args.steps.split(",")
    unknown = set(wanted) - {s.name for s in STEPS}
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; the steps: {', '.join(s.name for s in STEPS)}")
    steps = [s for s in STEPS if s.name in wanted]
    checks = Checks(out.resolve(), args.venv.resolve(), args.wheels.resolve() if args.wheels else None,
                    not args.no_install)

    if args.dry_run:
        total = 0.0
        for step in steps:
            total += step.minutes
            print(f"{step.name}: {step.what} (about {step.minutes:g} min on one H100)")
            for command in checks.commands(step.name):
                print("    " + " ".join(command))
        print(f"results: {checks.out}; estimated {total:g} min in all")
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    checks.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    code = 0
    for step in steps:
        elapsed = time.perf_counter() - started
        if args.budget is not None and elapsed + step.minutes * 60 > args.budget:
            checks.summary["steps"][step.name] = {"status": "skipped", "why": f"budget: {elapsed:.0f} s used, "
                                                  f"about {step.minutes * 60:.0f} s needed of {args.budget:.0f} s"}
            checks.write_summary()
            continue
        print(f"== {step.name}: {step.what}", flush=True)
        begin = time.perf_counter()
        try:
            result = checks.run(step)
        except Stop as stop:
            result, code = {"status": "failed", "why": str(stop)}, stop.code
            print(f"gpu_checks: {stop}", file=sys.stderr)
        result["seconds"] = round(time.perf_counter() - begin, 1)
        checks.summary["steps"][step.name] = result
        checks.write_summary()
        print(f"   {result['status']} in {result['seconds']} s", flush=True)
        if result["status"] == "failed":
            code = code or 1
            if step.prerequisite:
                break
    checks.summary["seconds"] = round(time.perf_counter() - started, 1)
    checks.write_summary()
    return code


if __name__ == "__main__":
    sys.exit(main())
