"""`toolprmbench validate DIR`: every problem of a local copy of the release files, or of a
build's folder (`toolprmbench build --out DIR`: the files its manifests list), and warnings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from toolprm_tasks.cli.common import UsageError, say
from toolprm_tasks.core.cases import check_records
from toolprm_tasks.data import PINNED_COMMIT, DataError, first_use_path, jsonio, pins, sha256_file
from toolprm_tasks.data.rebuilt import manifest_files


def _validate_file(subset: str, path: Path) -> tuple[list[str], list[str]]:
    """Every problem and warning of one release file, read leniently so that one problem
    does not hide the others."""
    pin = pins.PINNED_FILES[subset]
    problems: list[str] = []
    digest = sha256_file(path)
    if pin.sha256 is not None and digest != pin.sha256:
        problems.append(f"{path}: sha256 {digest} differs from the pinned {pin.sha256}")
    result = jsonio.inspect_records(path)
    problems += [str(p) for p in result.problems]
    if result.value is None:
        if not result.problems:  # the file says `null`: no problem was met reading it, yet no records
            problems.append(f"{path}: expected a JSON list of records, got null")
        return problems, []
    check = check_records(result.value, subset=subset, source=pin.filename, skip=result.unreadable)
    problems += [f"{path.parent}/{e}" for e in check.errors]
    if isinstance(result.value, list) and result.value and len(result.value) != pin.cases:
        problems.append(f"{path}: {len(result.value)} records, the release has {pin.cases}")
    warnings = [f"{path.parent}/{w}" for w in check.warnings]
    if pin.sha256 is None:
        try:
            record = json.loads(first_use_path(pin).read_text(encoding="utf-8"))
            if isinstance(record, dict) and record.get("sha256") not in (None, digest):
                warnings.append(f"{path}: sha256 {digest} differs from {record['sha256']}, the copy first used on "
                                f"this machine ({first_use_path(pin)}); loading it needs TOOLPRMBENCH_ALLOW_UNPINNED=1")
        except (OSError, ValueError):
            pass  # no first-use record (or not one of ours): nothing to compare with
    return problems, warnings


REBUILT_PREFIX = "prmbench_rebuilt_"


def _records_problems(path: Path, subset: str, counted: Any, may_be_empty: bool = False) -> tuple[list[str], list[str]]:
    """Every problem and warning of one build's case file (`counted`: its manifest's count;
    `may_be_empty`: the training split, which a build of very few conversations leaves empty;
    an empty test file is refused by every loader)."""
    result = jsonio.inspect_records(path)
    problems = [str(p) for p in result.problems]
    if result.value is None:
        return problems or [f"{path}: expected a JSON list of records, got null"], []
    if may_be_empty and result.value == [] and counted == 0 and counted is not False:  # (a one-query GTA build)
        return problems, []
    check = check_records(result.value, subset=subset, source=path.name, skip=result.unreadable)
    problems += [f"{path.parent}/{e}" for e in check.errors]
    if isinstance(result.value, list) and counted != len(result.value):
        problems.append(f"{path}: {len(result.value)} records, its manifest says {counted!r}")
    return problems, [f"{path.parent}/{w}" for w in check.warnings]


def _validate_build(manifest_path: Path) -> tuple[list[str], list[str]]:
    """Every problem of one source's build: its manifest, each file it lists (present, digest),
    and every record of its case files (read leniently, like a release file)."""
    source = manifest_path.stem[len("manifest_"):]
    try:
        manifest = jsonio.read_json(manifest_path)
        files = manifest_files(manifest, manifest_path)
    except (jsonio.JSONFileError, DataError) as exc:
        return [str(exc)], []
    problems: list[str] = []
    warnings: list[str] = []
    splits = manifest.get("splits") if isinstance(manifest.get("splits"), dict) else {}
    for name, expected in sorted(files.items()):
        if Path(str(name)).name != str(name) or str(name) in ("", ".", ".."):  # never read outside the folder
            problems.append(f"{manifest_path}: field 'files': {str(name)!r} is not a file name of this folder")
            continue
        path = manifest_path.parent / str(name)
        if not path.is_file():
            problems.append(f"{path}: missing (listed in {manifest_path.name})")
            continue
        try:
            digest = sha256_file(path)
            if digest != expected:
                problems.append(f"{path}: sha256 {digest} differs from its manifest {manifest_path.name} ({expected})")
            if str(name) == f"{REBUILT_PREFIX}{source}.json":
                file_problems, file_warnings = _records_problems(path, source, manifest.get("cases"))
            elif str(name) == f"{REBUILT_PREFIX}{source}_train.json":
                counted = (splits.get("train") or {}).get("cases") if isinstance(splits.get("train"), dict) else None
                file_problems, file_warnings = _records_problems(path, source, counted, may_be_empty=True)
            else:
                continue
        except OSError as exc:
            file_problems, file_warnings = [f"{path}: cannot be read ({exc.strerror or exc})"], []
        problems += file_problems
        warnings += file_warnings
    return problems, warnings


def validate_dir(directory: Path) -> tuple[list[str], list[str]]:
    """Every problem of every file in a local copy (missing files, digests, unreadable JSON,
    every bad record and field), and warnings about suspicious records. A folder with build
    manifests (`manifest_<source>.json`) is a build: its listed files are validated, and
    release files only where one is there."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a folder")
    problems: list[str] = []
    warnings: list[str] = []
    manifests = sorted(directory.glob("manifest_*.json"))
    for manifest_path in manifests:
        build_problems, build_warnings = _validate_build(manifest_path)
        problems += build_problems
        warnings += build_warnings
    for subset, pin in pins.PINNED_FILES.items():
        path = directory / pin.filename
        if manifests and not path.exists():
            continue  # a build's folder holds no release files
        if not path.is_file():
            problems.append(f"{path}: missing (subset {subset})")
            continue
        try:
            file_problems, file_warnings = _validate_file(subset, path)
        except OSError as exc:
            file_problems, file_warnings = [f"{path}: cannot be read ({exc.strerror or exc})"], []
        problems += file_problems
        warnings += file_warnings
    return problems, warnings


def _cmd_validate(args: argparse.Namespace) -> int:
    problems, warnings = validate_dir(Path(args.directory))
    for problem in problems:
        say(problem)
    for warning in warnings:
        say(f"warning: {warning}")
    say(f"{len(problems)} problem(s), {len(warnings)} warning(s) in {args.directory} "
        f"(pins: commit {PINNED_COMMIT[:12]})")
    return 1 if problems else 0


def register(sub: Any) -> None:
    """Add the subcommand to `toolprmbench` (cli.build_parser)."""
    validate = sub.add_parser("validate", help="check a local copy of the data folder: every problem, and warnings")
    validate.add_argument("directory", help="a folder holding the four release files, or a build's folder "
                                            "(`toolprmbench build --out DIR`)")
    validate.set_defaults(fn=_cmd_validate)
