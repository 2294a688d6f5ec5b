"""`toolprmbench audit`: the artifact audit (`toolprm_tasks.audit`) of any set of cases.

    toolprmbench audit                      # the rebuilt offline default (`toolprmbench build` makes it)
    toolprmbench audit --data official      # the paper's release (TOOLPRMBENCH_DATA_DIR, the cache, or a download)
    toolprmbench audit DIR                  # every data file in DIR: a build's prmbench_rebuilt_<source>.json
                                            # files, or release files named as the release names them
    toolprmbench audit ... --json           # the full reports, machine-readable
    toolprmbench audit ... --strict         # exit 1 when a set breaks a threshold (for CI)
    toolprmbench audit ... --tier hard      # only the rebuilt cases of one tier (their difficulty field)
    toolprmbench audit ... --subset bfcl    # only these subsets (of the default, of a folder, of a packet)

The well-posedness check (`toolprm_tasks/reading.py`, docs/audit.md): a blind reading packet
of a build, a reader's answers scored against its key, or an Inspect model as the reader:

    toolprmbench audit [DIR] --packet OUT [--per-type 10] [--packet-seed 0] [--tier hard]
    toolprmbench audit --score-packet OUT --answers ANSWERS.jsonl
    toolprmbench audit --read-packet OUT --reader MODEL [--answers ANSWERS.jsonl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from toolprm_tasks import reading
from toolprm_tasks.audit import audit_cases, audit_records, format_report
from toolprm_tasks.cli.arg_types import positive_int
from toolprm_tasks.cli.common import Extend, say
from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.names import DATA_KINDS, TIERS
from toolprm_tasks.data import (
    REBUILT_SUBSETS,
    DataError,
    DataUnavailable,
    load_subsets,
    pins,
    read_records,
    require_default_rebuilt,
    sha256_file,
)
from toolprm_tasks.data.jsonio import read_json
from toolprm_tasks.data.rebuilt import manifest_files
from toolprm_tasks.model_check import (
    DEFAULT_PER_SUBSET,
    MODEL_CHOICES_HELP,
    add_model_column,
    describe_column,
    resolve_model,
)

_EPILOG = """Reading the table: each cell is accuracy [95% cluster-bootstrap interval] n=cases. The
probes never see the history or the tools; a clean set keeps them near 50%. See docs/audit.md."""


def _folder_files(folder: Path, subsets: list[str] | None = None) -> list[tuple[str, Path]]:
    """(subset, file) for every data file in a folder (of `subsets` only, where given): rebuilt
    files first, then release files."""
    wanted = subsets or list(SUBSETS)
    found = [(s, folder / f"prmbench_rebuilt_{s}.json") for s in wanted]
    found += [(s, folder / pins.PINNED_FILES[s].filename) for s in wanted]
    return [(s, p) for s, p in found if p.is_file()]


def _named(name: str, tier: str) -> str:
    """A report's name: the set's, and the tier where one was chosen."""
    return name if tier == "all" else f"{name} [{tier} tier]"


def _audit_folder(folder: Path, subsets: list[str] | None, tier: str,
                  audited: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    files = _folder_files(folder, subsets)
    if not files:
        raise DataError(f"{folder}: no prmbench_rebuilt_<source>.json and no release file (prmbench_bfcl.json, ...)"
                        + (f" of --subset {' '.join(subsets)}" if subsets else ""))
    reports, unavailable = {}, {}
    for subset in subsets or []:  # a subset asked for by name is never left out in silence
        if all(s != subset for s, _ in files):
            unavailable[subset] = f"no data file of {subset} in {folder}"
    for subset, path in files:
        records = read_records(path)
        name = _named(path.name, tier)
        if not isinstance(records, list) or not records:  # bad input: an error naming the file
            raise DataError(f"{path}: " + ("no records (an empty list)" if isinstance(records, list)
                                           else f"expected a JSON list of records, got {type(records).__name__}"))
        try:
            reports[name] = audit_records(records, subset, source=path.name, tier=tier)
        except ValueError as exc:  # no case of the tier
            unavailable[name] = str(exc)
            continue
        mismatch = _manifest_mismatch(path, folder / f"manifest_{subset}.json")
        if mismatch:  # audited as it is, and said: the loaders would refuse this file
            reports[name]["problems"].append(mismatch)
            reports[name]["passed"] = False
        audited[name] = (subset, path.name, records)  # for the real-model column
    return reports, unavailable


def _manifest_mismatch(path: Path, manifest_path: Path) -> str | None:
    """Where a build's file has its manifest beside it: why the file is not the one the manifest
    records (its sha256), else None. Release files and folders without a manifest: None."""
    if not path.name.startswith("prmbench_rebuilt_") or not manifest_path.is_file():
        return None
    expected = manifest_files(read_json(manifest_path), manifest_path).get(path.name)
    if expected is None:
        return f"{manifest_path.name} records no sha256 of {path.name} (not this file's build manifest)"
    digest = sha256_file(path)
    if digest != expected:
        return (f"{path.name}: sha256 {digest[:12]}... differs from its manifest's {str(expected)[:12]}... "
                "(changed since the build; the loaders refuse it)")
    return None


def _audit_loaded(data: str, subsets: list[str], tier: str,
                  audited: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    reports, unavailable = {}, {}
    for subset in subsets:
        try:
            (loaded,) = load_subsets([subset], data=data, tier=tier)
        except DataError as exc:  # one missing file does not hide the others' audit
            unavailable[subset] = str(exc.worded_for("toolprmbench", command="audit")
                                      if isinstance(exc, DataUnavailable) else exc)
            continue
        name = _named(f"{subset} ({data})", tier)
        reports[name] = audit_cases(loaded.cases)
        audited[name] = (subset, str(loaded.path), loaded.cases)  # for the real-model column
    return reports, unavailable


def _fingerprint(manifest: Path) -> Any:
    """A build manifest's fingerprint (None where it names none), for a packet's origin."""
    value = read_json(manifest)
    if not isinstance(value, dict):
        raise DataError(f"{manifest}: expected a JSON object (a build manifest), got {type(value).__name__}")
    return value.get("fingerprint")


def _reading(args: argparse.Namespace) -> int:
    """The blind reading: write a packet, have a model read one, or score answers."""
    for option in ("packet", "score_packet", "read_packet", "answers"):
        if getattr(args, option) == "":
            raise DataError(f"--{option.replace('_', '-')}: an empty path")
    if args.packet is not None:
        if args.directory is not None:
            folder = Path(args.directory)
        else:
            folder = require_default_rebuilt()  # or one line naming `toolprmbench build`
        records = reading.records_of(folder, args.subset or ("bfcl", "tooltalk", "gta"))
        missing = [s for s in args.subset or [] if s not in records]
        if missing:
            raise DataError(f"{folder}: no prmbench_rebuilt_<source>.json of --subset {' '.join(missing)}")
        manifests = {s: _fingerprint(folder / f"manifest_{s}.json") for s in records
                     if (folder / f"manifest_{s}.json").is_file()}
        summary = reading.write_packet(records, Path(args.packet), args.per_type, args.packet_seed,
                                       origin={"folder": folder.name, "manifest_fingerprints": manifests},
                                       tier=args.tier)
        print(json.dumps(summary, indent=1) if args.json else
              f"packet: {summary['items']} cases -> {args.packet} (key: {reading.key_path(Path(args.packet))}); "
              f"by source {summary['by_source']}, by tier {summary['by_tier']}")
        return 0
    if args.tier != "all":  # a score reports every tier of its packet; the tier is chosen when it is written
        raise DataError("--tier chooses the cases of a packet being written (--packet); a packet's score already "
                        "reports accuracy by tier (leave --tier out)")
    packet = Path(args.score_packet if args.score_packet is not None else args.read_packet)
    try:
        key = reading.load_key(packet)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if args.read_packet:
        if not args.reader:
            raise DataError("--read-packet needs --reader MODEL (any Inspect model)")
        out = Path(args.answers) if args.answers else reading.reader_answers_path(packet)
        from toolprm_tasks.rebuild.models import ModelError  # lazy: Inspect's model layer

        try:
            answers = reading.read_packet(packet, args.reader, out)
        except (ValueError, ModelError) as exc:  # a model Inspect cannot make, or a provider's failure: one line
            raise DataError(str(exc)) from None
    else:
        if not args.answers:
            raise DataError("--score-packet needs --answers FILE (JSON Lines: item, choice, verdict)")
        try:
            answers = reading.load_answers(Path(args.answers))
        except ValueError as exc:
            raise DataError(str(exc)) from None
    report = reading.score(key, answers)
    print(json.dumps(report, indent=1) if args.json else reading.format_score(report))
    return 0


def run(args: argparse.Namespace) -> int:
    if any(v is not None for v in (args.packet, args.score_packet, args.read_packet)):
        return _reading(args)
    if args.answers is not None:
        raise DataError("--answers goes with --score-packet or --read-packet")

    audited: dict[str, Any] = {}
    if args.directory is not None:
        reports, unavailable = _audit_folder(Path(args.directory), args.subset, args.tier, audited)
        what = f"folder {args.directory}"
    else:
        subsets = args.subset or list(SUBSETS if args.data == "official" else REBUILT_SUBSETS)
        reports, unavailable = _audit_loaded(args.data, subsets, args.tier, audited)
        what = "the paper's release" if args.data == "official" else "the rebuilt offline default"
    if args.tier != "all":
        what += f", {args.tier} tier"
    if not reports:
        # one subset's message per line: each is several sentences of its own
        raise DataError("nothing to audit:\n" + "\n".join(f"- {k}: {v}" for k, v in unavailable.items()))
    try:
        model = resolve_model(args.model, option="--model")  # the real-model column (model_check.py)
    except ValueError as exc:
        raise DataError(f"audit: {exc}") from exc
    if model:
        add_model_column(reports, audited, model, per_subset=args.model_cases)
    if args.json:
        print(json.dumps({"audited": what, "reports": reports, "unavailable": unavailable}, indent=1))
    else:
        say(f"Artifact audit of {what}: history-free probes and weight-free judges.")
        for name, report in reports.items():
            say()
            say(format_report(name, report))
            if "real_model" in report:
                say(describe_column(report["real_model"]))
        for name, reason in unavailable.items():
            say(f"\n{name}: not audited ({reason})")
    return 1 if args.strict and any(r["passed"] is False for r in reports.values()) else 0


def register(subparsers: Any) -> None:
    """Add `audit` to the `toolprmbench` command line."""
    audit = subparsers.add_parser("audit", help="artifact audit: can the chosen action be told without the history?",
                                  description=__doc__, epilog=_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("directory", nargs="?", default=None,
                       help="a folder of data files (a build's output or release files); default: --data")
    audit.add_argument("--data", choices=DATA_KINDS, default="rebuilt",
                       help="without a folder: the rebuilt offline default (default) or the official files")
    audit.add_argument("--subset", nargs="+", action=Extend, choices=SUBSETS, default=None,
                       help="these subsets only: of --data, of the folder's files, or of a --packet's sources "
                            "(default: all)")
    audit.add_argument("--tier", choices=TIERS, default="all",
                       help="hard: audit only the rebuilt cases of the hard tier (their difficulty field; default "
                            "all); with --packet: sample only that tier's cases")
    audit.add_argument("--json", action="store_true", help="the full reports as JSON")
    audit.add_argument("--strict", action="store_true", help="exit 1 if any audited set breaks a threshold")
    audit.add_argument("--model", default="none",
                       help="a real-model column (minutes on a CPU): " + MODEL_CHOICES_HELP.replace("; default", "")
                       + " (default: none)")
    audit.add_argument("--model-cases", type=positive_int, default=DEFAULT_PER_SUBSET,
                       help=f"cases per set the model judges (seeded subset; default {DEFAULT_PER_SUBSET})")
    audit.add_argument("--packet", metavar="OUT", default=None,
                       help="write a blind reading packet of the folder (default: the rebuilt default) into OUT, "
                            "its key beside it (OUT-key.json)")
    audit.add_argument("--per-type", type=positive_int, default=10, help="packet cases per error type and source (default 10)")
    audit.add_argument("--packet-seed", type=int, default=0, help="seed of the packet's sample and order (default 0)")
    audit.add_argument("--score-packet", metavar="PACKET", default=None,
                       help="score a reader's --answers against the packet's key")
    audit.add_argument("--read-packet", metavar="PACKET", default=None,
                       help="have --reader (any Inspect model) read the packet, write its answers, score them")
    audit.add_argument("--reader", default=None, help="the Inspect model that reads a packet (--read-packet)")
    audit.add_argument("--answers", default=None, help="a reader's answers (JSON Lines: item, choice, verdict)")
    audit.set_defaults(fn=run)
