"""Writes the lm-eval task grid of this folder (lm-eval's own `_generate_configs.py` convention).

    python task_yaml/_generate_configs.py           # (re)write the generated files
    python task_yaml/_generate_configs.py --check   # exit 1 listing stale, missing or extra files

Generated: every `toolprmbench*.yaml`, the per-task files and the group files. The grid comes
from the project's own names: data kinds and tiers (`toolprm_tasks/core/names.py`), subsets
(`core.cases.SUBSETS` for the official data, `data.REBUILT_SUBSETS` for the rebuilt one),
protocols (`names.PROTOCOLS`, plus the `_prm` variant: pointwise scored by a backend as is,
`norm: none`), the task-name suffix rule of the docs loader, the group rates of
`scorers.core.SUBSET_MEAN_METRICS` and the task version. Adding one of those updates the grid.

Hand-written, checked in and never touched here (as in lm-eval): the templates
`_template_<variant>_yaml` (one per variant; a variant without its template is an error),
`utils.py` and README.md. Writes are atomic (a temp file, then os.replace); files of the
`toolprmbench*.yaml` pattern that the grid no longer has are removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _own_checkout() -> None:
    """Run from a checkout, the grid comes from that checkout's names, never from another copy
    (an install elsewhere, already imported at start-up by the lm-eval .pth hook)."""
    if not (HERE.parent / "toolprm_tasks").is_dir():
        return  # inside an installed wheel: the package around it
    sys.path.insert(0, str(HERE.parent))
    import toolprm_tasks

    found = Path(toolprm_tasks.__file__).resolve().parents[1]
    if found != HERE.parent:
        raise SystemExit(f"_generate_configs.py: toolprm_tasks is imported from {found}, not from this checkout "
                         f"{HERE.parent}; run it with PYTHONPATH={HERE.parent}")


if __name__ == "__main__":
    _own_checkout()

from scorers.core import SUBSET_MEAN_METRICS  # noqa: E402
from toolprm_tasks.core.cases import SUBSETS  # noqa: E402
from toolprm_tasks.core.names import DATA_KINDS, PROTOCOLS, TIERS  # noqa: E402
from toolprm_tasks.core.protocols import protocol as protocol_named  # noqa: E402 - its task suffixes
from toolprm_tasks.core.versions import TASK_VERSION  # noqa: E402
from toolprm_tasks.data import REBUILT_SUBSETS  # noqa: E402
from toolprm_tasks.report.plots import SUBSET_NAMES  # noqa: E402

PREFIX = "toolprmbench"
GENERATED = f"{PREFIX}*.yaml"  # every file of this pattern is the script's (stale ones are removed)
BACKENDS = "(toolprm-hf, toolprm-vllm)"
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six")


@dataclass(frozen=True)
class Variant:
    """One kind of task: a protocol as the loader runs it, under the template of its name."""

    protocol: str
    norm: str = "char"  # the loader's default; `none`: a backend's score used as is

    @property
    def suffix(self) -> str:
        return protocol_named(self.protocol).task_suffix(self.norm)

    @property
    def name(self) -> str:
        return self.suffix.removeprefix("_") or self.protocol

    @property
    def for_backends(self) -> bool:
        return self.norm == "none"


VARIANTS: tuple[Variant, ...] = (*(Variant(p) for p in PROTOCOLS), Variant("pointwise", "none"))
SUBSETS_OF: dict[str, tuple[str, ...]] = {"official": SUBSETS, "rebuilt": REBUILT_SUBSETS}
# The hard tier has tasks for the paper's protocol and for scoring backends only (rebuild v6).
TIER_VARIANTS: dict[str, tuple[str, ...]] = {"hard": ("generative", "prm")}


@dataclass(frozen=True)
class Cell:
    """One group of the grid: a data kind, a tier and a variant over that data's subsets."""

    data: str
    tier: str
    variant: Variant

    @property
    def group(self) -> str:
        data = "" if self.data == "official" else f"_{self.data}"
        tier = "" if self.tier == "all" else f"_{self.tier}"
        return f"{PREFIX}{data}{tier}{self.variant.suffix}"

    def task(self, subset: str) -> str:
        return f"{self.group.removesuffix(self.variant.suffix)}_{subset}{self.variant.suffix}"


def cells() -> list[Cell]:
    """The grid's groups: official data has one tier (tiers select rebuilt cases by difficulty)."""
    grid = []
    for data in DATA_KINDS:
        if data not in SUBSETS_OF:
            raise SystemExit(f"_generate_configs.py: data kind {data!r} has no subset list in SUBSETS_OF")
        for tier in TIERS if data == "rebuilt" else ("all",):
            names = TIER_VARIANTS.get(tier)
            grid += [Cell(data, tier, v) for v in VARIANTS if names is None or v.name in names]
    return grid


def _comment(*lines: str) -> str:
    return "".join(f"# {line}\n" for line in lines)


def _task_header(cell: Cell) -> str:
    """The comment above a task's settings (none for the official data's own protocols)."""
    backends = cell.variant.for_backends
    if cell.data == "official":
        return _comment(f"Protocol d for scoring backends {BACKENDS}.") if backends else ""
    if cell.tier == "all":
        if backends:
            return _comment("Rebuilt offline cases (toolprmbench build) for scoring backends: NOT the paper's data.")
        return _comment("Rebuilt offline cases (toolprmbench build): NOT the paper's data; never mixed into its numbers.")
    if backends:
        return _comment(f"Rebuilt offline cases, {cell.tier} tier, for scoring backends: NOT the paper's data.")
    return _comment(f"Rebuilt offline cases, {cell.tier} tier (a rule over each case's difficulty field, docs/rebuild.md):",
                    "NOT the paper's data; never mixed into its numbers.")


def task_yaml(cell: Cell, subset: str) -> str:
    variant = cell.variant
    # every key `task_`: lm-eval passes --metadata beside these, and one key in both is a TypeError
    lines = [f"include: _template_{variant.name}_yaml", f"task: {cell.task(subset)}", "dataset_kwargs:",
             f"  task_subset: {subset}", f"  task_protocol: {variant.protocol}"]
    if variant.for_backends:
        lines.append(f"  task_norm: {variant.norm}")
    if cell.data != "official":
        lines.append(f"  task_data: {cell.data}")
    if cell.tier != "all":
        lines.append(f"  task_tier: {cell.tier}")
    return _task_header(cell) + "".join(f"{line}\n" for line in lines)


def _group_header(cell: Cell) -> str:
    if cell.data == "official":
        return ""
    subsets = SUBSETS_OF[cell.data]
    count = NUMBER_WORDS[len(subsets)] if len(subsets) < len(NUMBER_WORDS) else str(len(subsets))
    if cell.variant.for_backends:
        tier = "" if cell.tier == "all" else f", {cell.tier} tier,"
        return _comment(f"Rebuilt offline cases{tier} for scoring backends {BACKENDS}: NOT the paper's data.")
    if cell.variant.protocol != "generative":
        return _comment(f"Rebuilt offline cases ({cell.variant.protocol} protocol): NOT the paper's data. "
                        "Rates are the unweighted mean over sources.")
    if cell.tier == "all":
        sources = " and ".join(SUBSET_NAMES.get(s, s) for s in subsets)
        return _comment(f"Rebuilt offline cases from {sources} sources (toolprmbench build): NOT the paper's",
                        f"data. `acc` is the unweighted mean over the {count} sources.")
    return _comment(f"Rebuilt offline cases, {cell.tier} tier (docs/rebuild.md): NOT the paper's data. `acc` is the",
                    f"unweighted mean over the {count} sources.")


def group_yaml(cell: Cell) -> str:
    # the scores first, then first_rate (position bias, no better direction); backends add `truncated`
    rates = sorted(SUBSET_MEAN_METRICS, key=lambda metric: metric == "first_rate")
    if cell.variant.for_backends:
        rates.append("truncated")
    lines = [f"group: {cell.group}", "task:", *(f"  - {cell.task(s)}" for s in SUBSETS_OF[cell.data]),
             "aggregate_metric_list:"]
    if cell.data == "official":
        lines.append("  # the paper's AVG rule for every rate: the unweighted mean of the subsets' values (docs/metrics.md)")
    lines += [f"  - {{metric: {rate}, aggregation: mean, weight_by_size: false}}" for rate in rates]
    lines += ["metadata:", f'  version: "{TASK_VERSION}"']
    return _group_header(cell) + "".join(f"{line}\n" for line in lines)


def render(folder: Path = HERE) -> dict[str, str]:
    """Every generated file's name and text; each variant's template must exist in `folder`."""
    files: dict[str, str] = {}
    for cell in cells():
        template = folder / f"_template_{cell.variant.name}_yaml"
        if not template.is_file():
            raise SystemExit(f"_generate_configs.py: {template.name} is missing (the hand-written template "
                             f"of the {cell.variant.name} tasks, e.g. {cell.task(SUBSETS_OF[cell.data][0])})")
        files[f"{cell.group}.yaml"] = group_yaml(cell)
        files.update({f"{cell.task(s)}.yaml": task_yaml(cell, s) for s in SUBSETS_OF[cell.data]})
    return dict(sorted(files.items()))


def _stale(folder: Path, expected: dict[str, str]) -> list[tuple[str, str]]:
    """(kind, name) of every generated file that differs from the grid, is missing, or is extra."""
    present = {path.name for path in folder.glob(GENERATED)}
    stale = []
    for name in sorted(present | set(expected)):
        if name not in expected:
            stale.append(("extra", name))
        elif name not in present:
            stale.append(("missing", name))
        elif (folder / name).read_bytes() != expected[name].encode("utf-8"):
            stale.append(("differs", name))
    return stale


def differences(folder: Path = HERE) -> list[str]:
    """One line per generated file that differs from the grid, is missing, or is extra (stale)."""
    notes = {"extra": " (no task of the grid: stale)", "missing": "", "differs": ""}
    return [f"{kind}: {name}{notes[kind]}" for kind, name in _stale(folder, render(folder))]


def _write_atomic(path: Path, text: str) -> None:
    """`text` into `path` through a temp file in the same folder (readers never see half a file)."""
    umask = os.umask(0)
    os.umask(umask)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask  # mkstemp's own is 0600
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write(folder: Path = HERE) -> list[str]:
    """Brings `folder` to the grid: writes what differs or is missing, removes extras; says what it did."""
    expected = render(folder)
    done = []
    for kind, name in _stale(folder, expected):
        if kind == "extra":
            (folder / name).unlink()
            done.append(f"removed {name}")
        else:
            _write_atomic(folder / name, expected[name])
            done.append(f"wrote {name}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale, missing or extra files; write nothing")
    parser.add_argument("--folder", type=Path, default=HERE, help="the task folder (default: this script's)")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences(args.folder)
        for line in problems:
            print(line)
        if problems:
            print(f"{len(problems)} generated file(s) out of date: run python task_yaml/_generate_configs.py")
        return 1 if problems else 0
    done = write(args.folder)
    print("\n".join(done) if done else f"{len(render(args.folder))} generated files up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
