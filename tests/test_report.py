"""`toolprmbench report` end to end: reports built from real lm-eval outputs (results and
samples files, saved as the lm_eval CLI saves them) and real Inspect logs, produced here on the
official-format fixture data and on a small rebuilt set.

Expected numbers come from the frameworks' own results (read back independently of the
report's readers) or from the fixture's hand-derived verdicts (tests/fixture_data.py).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixture_data import RECORDS, SCHEMA_VERDICT, write_release_files
from toolprm_tasks.core.cases import SUBSETS, error_type_slug

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- framework runs


def lm_eval_run(out: Path, judge: str, tasks: list[str], metadata: dict[str, Any], *, log_samples: bool = True,
                limit: int | None = None) -> dict[str, Any]:
    """lm-eval in process, saved exactly as `lm_eval --output_path OUT [--log_samples]` saves."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out))
    results = lm_eval.simple_evaluate(model="toolprm-baseline", model_args=f"judge={judge}", tasks=tasks,
                                      metadata=metadata, log_samples=log_samples, evaluation_tracker=tracker,
                                      limit=limit)
    samples = results.pop("samples", None)
    tracker.save_results_aggregated(results=results, samples=samples if log_samples else None)
    if log_samples:
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
    return json.loads(next(out.rglob("results_*.json")).read_text())  # what lm-eval wrote


def inspect_run(log_dir: Path, task: Any, model: str, **kwargs: Any) -> Any:
    from inspect_ai import eval as inspect_eval

    log = inspect_eval(task, model=model, log_dir=str(log_dir), display="none", **kwargs)[0]
    assert log.status == "success", log.error
    return log


def log_metrics(log: Any) -> dict[str, float]:
    return {name: m.value for score in log.results.scores for name, m in score.metrics.items()}


@dataclass
class Outputs:
    root: Path
    lm_schema: dict[str, Any]  # official fixture data, samples logged
    lm_first: dict[str, Any]  # official fixture data, no samples
    lm_limited: dict[str, Any]  # GTA only, --limit 2
    lm_rebuilt: dict[str, Any]
    inspect_schema: Any
    inspect_first: Any
    inspect_pointwise: Any
    inspect_rebuilt: Any
    inspect_truncated: Any
    foreign_log: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, fixture_data_dir: Path, case_counts: dict[str, int]) -> Iterator[Path]:
    """The official-format fixture copy (unpinned) and a small rebuilt set, for the whole module."""
    from inspect_ai.model import ModelAPI

    from toolprm_tasks import data
    from toolprm_tasks.rebuild.build import build

    root = tmp_path_factory.mktemp("report")
    build(["bfcl", "tooltalk"], root / "rebuilt", seed=0, limit=4)

    async def count_text_tokens(self: ModelAPI, text: str) -> int:  # no tiktoken download
        return len(text.split())

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"TOOLPRMBENCH_DATA_DIR": str(fixture_data_dir), "TOOLPRMBENCH_ALLOW_UNPINNED": "1",
                           "TOOLPRMBENCH_CACHE_DIR": str(root / "cache"),
                           "TOOLPRMBENCH_REBUILT_DIR": str(root / "rebuilt")}.items():
            mp.setenv(key, value)
        mp.setattr(data.loaded, "_LOADED", {})
        mp.setattr(ModelAPI, "count_text_tokens", count_text_tokens)
        yield root


@pytest.fixture(scope="module")
def outputs(env: Path, tiny_classifier: Path) -> Outputs:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.scorer import match

    from tests.test_engines_hf import _context_limit_that_shortens_some
    from toolprm_tasks.bfcl import bfcl
    from toolprm_tasks.data import load_subset
    from toolprm_tasks.toolprmbench import toolprmbench

    both = {"order": "both"}
    lm_schema = lm_eval_run(env / "lm-schema", "schema", ["toolprmbench"], both)
    lm_first = lm_eval_run(env / "lm-first", "first", ["toolprmbench"], both, log_samples=False)
    lm_limited = lm_eval_run(env / "lm-limited", "schema", ["toolprmbench_gta"], {"order": "seeded"}, limit=2)
    lm_rebuilt = lm_eval_run(env / "lm-rebuilt", "schema", ["toolprmbench_rebuilt"], both)
    logs = env / "logs"
    inspect_schema = inspect_run(logs, toolprmbench(order="both"), "toolprm-baseline/schema")
    inspect_first = inspect_run(logs, toolprmbench(order="both"), "toolprm-baseline/first")
    inspect_pointwise = inspect_run(logs, toolprmbench(order="both", protocol="pointwise"), "toolprm-baseline/longer")
    inspect_rebuilt = inspect_run(env / "logs-rebuilt", toolprmbench(order="both", data="rebuilt"),
                                  "toolprm-baseline/first")
    limit, _ = _context_limit_that_shortens_some(tiny_classifier, load_subset("bfcl").cases)
    inspect_truncated = inspect_run(env / "logs-truncated", bfcl(protocol="pointwise"), f"toolprm-hf/{tiny_classifier}",
                                    model_args={"kind": "classifier", "max_length": limit})
    output = ModelOutput.from_content(model="mockllm", content="4")
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    other = Task(name="arithmetic", dataset=[Sample(input="2+2?", target="4")], scorer=match())
    foreign = inspect_run(env / "logs-foreign", other, get_model("mockllm/model", custom_outputs=[output]))
    return Outputs(env, lm_schema, lm_first, lm_limited, lm_rebuilt, inspect_schema, inspect_first,
                   inspect_pointwise, inspect_rebuilt, inspect_truncated, Path(foreign.location))


def build(paths: list[Path], out: Path | None = None, **options: Any) -> dict[str, Any]:
    from toolprm_tasks.report.build import Options, build_report

    return build_report(paths, out, Options(**options))


@pytest.fixture(scope="module")
def report(outputs: Outputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("report-out")
    paths = [outputs.root / d for d in ("lm-schema", "lm-first", "lm-limited", "lm-rebuilt", "logs", "logs-rebuilt",
                                        "logs-truncated")]
    return build(paths, out), out


def rows(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return report["sections"][kind]["leaderboard"]["rows"]


def row_of(report: dict[str, Any], kind: str, *, framework: str, model: str, **match_: Any) -> dict[str, Any]:
    found = [r for r in rows(report, kind) if r["framework"] == framework and r["model"] == model
             and all(r[k] == v for k, v in match_.items())]
    assert len(found) == 1, [(r["judge"], r["framework"]) for r in rows(report, kind)]
    return found[0]


def schema_expected(subset: str) -> float:
    """Both orders: a schema win is right twice, a tie (first named) once, a loss never."""
    verdicts = [v for k, v in SCHEMA_VERDICT.items() if k.startswith(f"{subset}-")]
    return (2 * verdicts.count("chosen") + verdicts.count("tie")) / (2 * len(verdicts))


# ----------------------------------------------------------------------------- numbers


def test_lm_eval_numbers_equal_lm_evals_own_and_the_hand_derived(report, outputs: Outputs) -> None:
    report, _ = report
    results = outputs.lm_schema["results"]
    row = row_of(report, "official", framework="lm-eval", model="schema", order="both")
    for subset in SUBSETS:
        assert row["subsets"][subset]["acc"] == results[f"toolprmbench_{subset}"]["acc,none"]
        assert row["subsets"][subset]["acc"] == pytest.approx(schema_expected(subset))
        assert row["subsets"][subset]["se"] == results[f"toolprmbench_{subset}"]["acc_cluster_se,none"]
    assert row["avg"] == results["toolprmbench"]["acc,none"]
    assert row["avg"] == pytest.approx(sum(schema_expected(s) for s in SUBSETS) / 4)
    for metric in ("consistency", "first_rate", "parse_fail"):
        assert row[metric] == results["toolprmbench"][f"{metric},none"]
    assert row["trials"] == sum(outputs.lm_schema["n-samples"][f"toolprmbench_{s}"]["effective"] for s in SUBSETS)
    # error types pooled over the subsets (not in lm-eval's results): from the fixture by hand
    table = report["sections"]["official"]["error_types"]["rows"]
    values = next(r for r in table if r["judge"] == row["judge"])["values"]
    by_type: dict[str, list[float]] = {}
    for subset, make in RECORDS.items():
        for index, record in enumerate(make()):
            verdict = SCHEMA_VERDICT[f"{subset}-{index:04d}"]
            by_type.setdefault(error_type_slug(record.get("error type")), []).append(
                {"chosen": 1.0, "tie": 0.5, "rejected": 0.0}[verdict])
    for slug, scores in by_type.items():
        assert values[slug] == pytest.approx(sum(scores) / len(scores)), slug


def test_inspect_numbers_equal_the_logs_metrics(report, outputs: Outputs) -> None:
    report, _ = report
    for log, model in ((outputs.inspect_schema, "schema"), (outputs.inspect_first, "first")):
        metrics = log_metrics(log)
        row = row_of(report, "official", framework="inspect", model=model, protocol="generative")
        for subset in SUBSETS:
            assert row["subsets"][subset]["acc"] == metrics[f"acc_{subset}"]
        assert row["avg"] == metrics["avg"]
        for metric in ("consistency", "first_rate", "parse_fail"):
            assert row[metric] == metrics[metric]
        assert row["avg_se"] == metrics["acc_cluster_se"]
        assert row["trials"] == len(log.samples)
        values = next(r for r in report["sections"]["official"]["error_types"]["rows"]
                      if r["judge"] == row["judge"])["values"]
        for slug, value in values.items():
            if value is not None:
                assert value == metrics[f"acc_{slug}"]
    first = row_of(report, "official", framework="inspect", model="first", protocol="generative")
    assert first["avg"] == 0.5 and first["first_rate"] == 1.0 and first["consistency"] == 0.0


def test_both_frameworks_agree_for_the_same_judge(report) -> None:
    report, _ = report
    lm = row_of(report, "official", framework="lm-eval", model="schema", order="both")
    inspect = row_of(report, "official", framework="inspect", model="schema", protocol="generative")
    assert lm["judge"] != inspect["judge"]  # one row per framework, told apart in the label
    for subset in SUBSETS:
        assert lm["subsets"][subset]["acc"] == pytest.approx(inspect["subsets"][subset]["acc"])
    for key in ("avg", "avg_se", "consistency", "first_rate", "parse_fail"):
        assert lm[key] == pytest.approx(inspect[key]), key


# ----------------------------------------------------------------------------- honesty rules


def test_official_and_rebuilt_never_share_a_row_table_or_plot(report, outputs: Outputs) -> None:
    report, out = report
    assert set(report["sections"]) == {"official", "rebuilt"}
    official, rebuilt = rows(report, "official"), rows(report, "rebuilt")
    assert all(set(r["subsets"]) <= set(SUBSETS) for r in official)
    for row in rebuilt:
        assert set(row["subsets"]) <= {"bfcl", "tooltalk"} and row["paper_row"] is None
    assert report["sections"]["rebuilt"]["leaderboard"]["paper_rows"] == []
    assert len(report["sections"]["official"]["leaderboard"]["paper_rows"]) == 10
    lm = row_of(report, "rebuilt", framework="lm-eval", model="schema")
    assert lm["avg"] == outputs.lm_rebuilt["results"]["toolprmbench_rebuilt"]["acc,none"]
    inspect = row_of(report, "rebuilt", framework="inspect", model="first")
    assert inspect["avg"] == log_metrics(outputs.inspect_rebuilt)["avg"] == 0.5
    # the same judge on both data sets: one row in each section, never merged
    official_schema = row_of(report, "official", framework="lm-eval", model="schema", order="both")
    assert official_schema["avg"] == outputs.lm_schema["results"]["toolprmbench"]["acc,none"]
    markdown = (out / "report.md").read_text()
    official_part, rebuilt_part = markdown.split("## Rebuilt offline data", 1)
    assert "the paper (Table 2)" in official_part and "the paper (Table 2)" not in rebuilt_part
    assert "NOT the paper's data" in rebuilt_part.splitlines()[0]
    assert "(paper)" in (out / "accuracy_official.svg").read_text()
    assert "(paper)" not in (out / "accuracy_rebuilt.svg").read_text()


def _tables_with(out: Path, label: str) -> list[str]:
    return [line for line in (out / "report.md").read_text().splitlines() if line.startswith(f"| {label} |")]


def _svg_text(path: Path) -> str:
    return " ".join(" ".join(ET.parse(path).getroot().itertext()).split())


def test_flags_appear_in_every_table_and_plot(report, outputs: Outputs, case_counts: dict[str, int]) -> None:
    report, out = report
    limited = row_of(report, "official", framework="lm-eval", model="schema", order="seeded")
    assert {"limit", "partial", "unpinned"} <= set(limited["flags"]) and limited["avg"] is None
    assert limited["trials"] == 2 < case_counts["gta"]  # --limit 2 of GTA's trials (one per case, seeded)
    no_samples = row_of(report, "official", framework="lm-eval", model="first")
    assert "data-unknown" in no_samples["flags"] and no_samples["data"] == "unknown"
    truncated = row_of(report, "official", framework="inspect", model=outputs.inspect_truncated.eval.model.split("/")[-1])
    assert log_metrics(outputs.inspect_truncated)["truncated"] > 0 and "truncated" in truncated["flags"]
    assert "partial" in truncated["flags"]  # BFCL only
    for row in (limited, no_samples, truncated):
        lines = _tables_with(out, row["judge"])
        assert len(lines) == 4, (row["judge"], lines)  # leaderboard, error types, position bias, cost
        for line in lines:
            assert all(flag in line for flag in row["flags"]), line
        for section_table in ("error_types", "position_bias", "cost"):
            entry = next(r for r in report["sections"]["official"][section_table]["rows"] if r["judge"] == row["judge"])
            assert entry["flags"] == row["flags"]
        assert f"{row['judge']} [{', '.join(row['flags'])}]" in _svg_text(out / "accuracy_official.svg")
    assert all("unpinned" in r["flags"] for r in rows(report, "official"))  # the fixture is not the release


@pytest.mark.filterwarnings("ignore:`__get_validators__` is deprecated")  # inspect_evals' schema, not ours
def test_pinned_runs_of_disjoint_subsets_merge_and_other_data_does_not(env: Path, fixture_data_dir: Path,
                                                                      case_counts: dict[str, int], tmp_path: Path,
                                                                      monkeypatch) -> None:
    """With the fixture files as the pinned release, a GTA run and a run of the other three merge
    into one row whose AVG equals lm-eval's own for a full run; a run on a changed GTA file
    (another fingerprint) stays a row of its own."""
    import dataclasses

    from toolprm_tasks import data

    def pin(p: Any) -> Any:  # the fixture file as the release: its digest (where one is published), size, count
        path = fixture_data_dir / p.filename
        return dataclasses.replace(p, sha256=data.sha256_file(path) if p.sha256 else None,
                                   size=path.stat().st_size if p.size else None, cases=case_counts[p.subset])

    pins = {s: pin(p) for s, p in data.PINNED_FILES.items()}
    monkeypatch.setattr(data.pins, "PINNED_FILES", pins)
    monkeypatch.setenv("TOOLPRMBENCH_ALLOW_UNPINNED", "0")
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    full = lm_eval_run(tmp_path / "full", "schema", ["toolprmbench"], {"order": "both"})
    lm_eval_run(tmp_path / "part-gta", "schema", ["toolprmbench_gta"], {"order": "both"})
    lm_eval_run(tmp_path / "part-rest", "schema", [f"toolprmbench_{s}" for s in SUBSETS[1:]], {"order": "both"})
    changed = tmp_path / "changed-data"
    write_release_files(changed)
    gta = changed / data.PINNED_FILES["gta"].filename
    gta.write_text(gta.read_text().replace("receipt", "bill"))
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(changed))
    monkeypatch.setenv("TOOLPRMBENCH_ALLOW_UNPINNED", "1")
    lm_eval_run(tmp_path / "changed", "schema", ["toolprmbench_gta"], {"order": "both"})

    report = build([tmp_path / "part-gta", tmp_path / "part-rest", tmp_path / "changed"], tmp_path / "out",
                   plots=False, commit="0" * 40)
    official = rows(report, "official")
    assert len(official) == 2
    merged = next(r for r in official if len(r["sources"]) == 2)
    assert merged["flags"] == [] and set(merged["subsets"]) == set(SUBSETS)
    assert merged["avg"] == pytest.approx(full["results"]["toolprmbench"]["acc,none"])
    other = next(r for r in official if r is not merged)
    assert other["flags"] == ["partial", "unpinned"] and list(other["subsets"]) == ["gta"]
    assert other["subsets"]["gta"]["sha256"] != merged["subsets"]["gta"]["sha256"]
    assert other["data"] != merged["data"] and other["judge"] != merged["judge"]
    # the register's evaluation_report: the complete pinned row only, valid in inspect_evals' schema
    from tests.test_report_eval_yaml import inspect_evals_metadata

    block = yaml.safe_load((tmp_path / "out" / "evaluation_report.yaml").read_text())["evaluation_report"]
    parsed = inspect_evals_metadata(tmp_path).EvaluationReport(**block)
    (result,) = parsed.results
    assert result.model == "schema" and result.metrics[0].value == pytest.approx(merged["avg"])
    assert other["judge"] in " ".join(parsed.notes)  # left out, and said so
    # the full run and the merged pair: same judge, same data, both shown (not merged: same subsets)
    both = build([tmp_path / "full", tmp_path / "part-gta", tmp_path / "part-rest"])
    assert len(rows(both, "official")) == 2


def _copy_log_with_version(source: Path, target: Path, version: str) -> Path:
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(source))
    log.eval.task_version = version
    write_eval_log(log, str(target))
    return target


def test_unknown_and_newer_task_versions_are_refused(report, outputs: Outputs, tmp_path: Path) -> None:
    from toolprm_tasks.report.compat import TASK_VERSION
    from toolprm_tasks.report.runs import ReportError

    newer = f"{int(TASK_VERSION.split('-')[0]) + 1}-A"
    log = _copy_log_with_version(Path(outputs.inspect_schema.location), tmp_path / "newer.eval", newer)
    with pytest.raises(ReportError, match=rf"{re.escape(str(log))}: task version {newer} is newer"):
        build([log])
    results = next((outputs.root / "lm-schema").rglob("results_*.json"))
    data = json.loads(results.read_text())
    data["versions"]["toolprmbench_gta"] = "0.5"
    target = tmp_path / "lm" / results.name
    target.parent.mkdir()
    target.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=rf"{re.escape(str(target))}: task toolprmbench_gta: unknown task version '0.5'"):
        build([target])
    # an older published version is read, and flagged
    old = _copy_log_with_version(Path(outputs.inspect_first.location), tmp_path / "old.eval", "1-A")
    (row,) = rows(build([old]), "official")
    assert "old-version" in row["flags"]


def test_corrupt_and_foreign_files_are_named(outputs: Outputs, tmp_path: Path) -> None:
    from toolprm_tasks.report.runs import ReportError

    garbage = tmp_path / "broken.eval"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ReportError, match=rf"{re.escape(str(garbage))}: not a readable Inspect log"):
        build([garbage])
    results = next((outputs.root / "lm-schema").rglob("results_*.json"))
    cut = tmp_path / "cut" / results.name
    cut.parent.mkdir()
    cut.write_text(results.read_text()[:300])
    with pytest.raises(ReportError, match=rf"{re.escape(str(cut))}: line \d+ column \d+: not valid JSON"):
        build([cut])
    foreign = tmp_path / "foreign" / "results_2026-01-01T00-00-00.json"
    foreign.parent.mkdir()
    foreign.write_text(json.dumps({"results": {"arc_easy": {"acc,none": 0.7}}, "configs": {"arc_easy": {}}}))
    with pytest.raises(ReportError, match=rf"{re.escape(str(foreign))}: no ToolPRMBench task .*arc_easy"):
        build([foreign])
    with pytest.raises(ReportError, match=rf"{re.escape(str(outputs.foreign_log))}: Inspect log of task 'arithmetic'"):
        build([outputs.foreign_log])
    # in a folder, other tasks' files are listed as not read, beside what is reported
    folder = tmp_path / "mixed"
    shutil.copytree(outputs.root / "lm-first", folder / "lm")
    shutil.copy(outputs.foreign_log, folder)
    shutil.copy(foreign, folder)
    (folder / "notes.txt").write_text("mine")
    mixed = build([folder])
    assert len(rows(mixed, "official")) == 1
    not_read = "\n".join(mixed["inputs"]["not_read"])
    assert "arithmetic" in not_read and "arc_easy" in not_read and "notes.txt" in not_read
    # samples that do not belong to their results file
    tampered = tmp_path / "tampered"
    shutil.copytree(outputs.root / "lm-schema", tampered)
    samples = next(tampered.rglob("samples_toolprmbench_bfcl_*.jsonl"))
    lines = samples.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if json.loads(line)["acc"]["correct"] in (0.0, 1.0))
    record = json.loads(lines[index])
    record["acc"]["correct"] = 1.0 - record["acc"]["correct"]  # one trial flipped: accuracy moves
    lines[index] = json.dumps(record)
    samples.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError, match=r"samples_toolprmbench_bfcl_\*\.jsonl: 12 samples with accuracy .* do not match"):
        build([tampered])
    samples.write_text("{broken\n")
    with pytest.raises(ReportError, match=rf"{re.escape(str(samples))}: record 0: line 1 column \d+: not valid JSON"):
        build([tampered])


# ----------------------------------------------------------------------------- files


def test_files_plots_and_json(report) -> None:
    report, out = report
    for name in ("report.md", "report.html", "report.json", "readme_section.md"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "report.json").read_text())["sections"].keys() == report["sections"].keys()
    names = {p["name"] for p in report["plots"]}
    assert {"accuracy_official", "error_types_official", "position_bias_official", "accuracy_vs_consistency_official",
            "accuracy_rebuilt"} <= names
    for plot in report["plots"]:
        assert (out / plot["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = ET.parse(out / plot["svg"])  # well-formed
        text = " ".join(t for t in svg.getroot().itertext())
        if plot["name"].startswith(("accuracy_", "position_bias", "cost")):
            assert "50%" in text and "(%)" in text, plot["name"]  # the coin-flip line and a unit
    section = (out / "readme_section.md").read_text()
    assert section.startswith("## Evaluation Report") and "### Official data" in section
    assert "not comparable with Table 2" in section
    # the commands that reproduce the runs, rebuilt from what the frameworks logged
    assert ("lm_eval --model toolprm-baseline --model_args judge=schema --tasks toolprmbench "
            "--metadata '{\"order\": \"both\"}' --log_samples --output_path OUT") in section
    assert "lm_eval --model toolprm-baseline --model_args judge=first --tasks toolprmbench " in section
    assert "--limit 2 --log_samples" in section
    assert "--model toolprm-baseline/first -T order=both -T data=rebuilt --log-dir OUT" in section


# ----------------------------------------------------------------------------- search


def test_search_logs_pair_gain_with_the_judges_bfcl_accuracy(env: Path, outputs: Outputs, tmp_path: Path) -> None:
    search = pytest.importorskip("toolprm_tasks.search", reason="the toolprm_search task is not in this tree")
    log = inspect_run(tmp_path / "search", search.toolprm_search(category="base"), "toolprm-replay/4",
                      model_roles={"judge": "toolprm-baseline/longer"}, limit=2)
    metrics = log_metrics(log)
    report = build([env / "logs", tmp_path / "search"], tmp_path / "out")
    (point,) = report["search"]["points"]
    pointwise = row_of(report, "official", framework="inspect", model="longer", protocol="pointwise")
    assert point["row"] == pointwise["judge"]  # the judge's pointwise row: the protocol the search used
    assert point["accuracy"] == log_metrics(outputs.inspect_pointwise)["acc_bfcl"]
    assert point["gain"] == metrics["gain_first"] and point["success"] == metrics["success"]
    assert point["baseline"] == metrics["success_first"] and "limit" in point["flags"]
    assert (tmp_path / "out" / "search_gain_official.png").is_file()


def test_a_judge_with_lm_eval_and_inspect_rows_gets_its_search_point(env: Path, outputs: Outputs,
                                                                     tmp_path: Path) -> None:
    """docs/report.md recommends running a judge in both frameworks: its search point takes the
    BFCL accuracy of the row that ran as the search did (Inspect), not none at all. The header
    names each task's version under its own name."""
    search = pytest.importorskip("toolprm_tasks.search", reason="the toolprm_search task is not in this tree")
    from toolprm_tasks.core.versions import SEARCH_VERSION, TASK_VERSION

    inspect_run(tmp_path / "search", search.toolprm_search(category="base"), "toolprm-replay/4",
                model_roles={"judge": "toolprm-baseline/schema"}, limit=2)
    report = build([env / "lm-schema", env / "logs", tmp_path / "search"], tmp_path / "out")
    lm = row_of(report, "official", framework="lm-eval", model="schema", order="both")
    inspect = row_of(report, "official", framework="inspect", model="schema", protocol="generative")
    assert "bfcl" in lm["subsets"] and "bfcl" in inspect["subsets"]  # two rows of this judge with BFCL
    (point,) = report["search"]["points"]
    assert report["search"]["unmatched"] == []
    assert point["row"] == inspect["judge"] and point["accuracy"] == log_metrics(outputs.inspect_schema)["acc_bfcl"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert f"task versions read: toolprmbench {TASK_VERSION}; toolprm_search {SEARCH_VERSION})" in markdown
    readme = (tmp_path / "out" / "readme_section.md").read_text()
    assert f"(task version `{TASK_VERSION}`; search task `toolprm_search` version `{SEARCH_VERSION}`)" in readme


# ----------------------------------------------------------------------------- Inspect --limit and --epochs


def test_an_inspect_limit_run_of_the_combined_task_is_a_flagged_row(outputs: Outputs, tmp_path: Path) -> None:
    """`inspect eval toolprmbench.py --limit 5` stops inside the first subsets: beside a full run,
    its row has the subsets it reached, each with the log's own accuracy, flagged limit and
    partial, with no AVG."""
    from toolprm_tasks.toolprmbench import toolprmbench

    log = inspect_run(tmp_path / "limited", toolprmbench(order="both"), "toolprm-baseline/schema", limit=5)
    metrics = log_metrics(log)
    report = build([tmp_path / "limited", outputs.root / "logs"])
    (limited,) = [r for r in rows(report, "official") if r["sources"] == [log.location]]
    reached = {sample.metadata["subset"] for sample in log.samples}
    assert len(log.samples) == 5 and set(limited["subsets"]) == reached and reached < set(SUBSETS)
    for subset in reached:
        assert limited["subsets"][subset]["acc"] == metrics[f"acc_{subset}"]
    assert {"limit", "partial"} <= set(limited["flags"]) and limited["avg"] is None and limited["trials"] == 5
    from toolprm_tasks.report.readme import _result_rows

    header, cells = _result_rows(report["sections"]["official"], reference=True)
    (shown,) = [c for c in cells if c[0] == limited["judge"]]
    # no AVG, so no Stderr of it (the SE of a mean of fewer subsets stood next to "AVG —")
    assert shown[header.index("AVG (%)")] == shown[header.index("Stderr")] == "—"
    full = row_of(report, "official", framework="inspect", model="schema", protocol="generative",
                  sources=[outputs.inspect_schema.location])
    assert "limit" not in full["flags"] and full["avg"] == log_metrics(outputs.inspect_schema)["avg"]


def test_inspect_epochs_count_each_trial_once_and_are_flagged(outputs: Outputs, tmp_path: Path) -> None:
    """`--epochs 2` runs every trial twice; Inspect's metrics see one epoch-reduced score per
    trial, and so does the report: the trials, the accuracies and the recomputed SEs equal a
    one-epoch run's (the judge is deterministic), and the row is flagged."""
    from toolprm_tasks.toolprmbench import toolprmbench

    log = inspect_run(tmp_path / "epochs", toolprmbench(order="both"), "toolprm-baseline/schema", epochs=2)
    once = outputs.inspect_schema
    assert len(log.samples) == 2 * len(once.samples)
    (row,) = rows(build([tmp_path / "epochs"]), "official")
    (reference,) = rows(build([Path(once.location)]), "official")
    assert row["trials"] == reference["trials"] == len(once.samples) and row["cases"] == reference["cases"]
    assert "epochs" in row["flags"] and "epochs" not in reference["flags"] and "limit" not in row["flags"]
    for subset in SUBSETS:
        assert row["subsets"][subset]["acc"] == log_metrics(log)[f"acc_{subset}"] == reference["subsets"][subset]["acc"]
        assert row["subsets"][subset]["se"] == pytest.approx(reference["subsets"][subset]["se"])
    assert row["avg"] == log_metrics(log)["avg"] and row["first_rate"] == reference["first_rate"]
    assert "--epochs 2" in next(r["command"] for r in build([tmp_path / "epochs"])["inputs"]["runs"])


# ----------------------------------------------------------------------------- command line


@pytest.mark.cli
def test_command_line(outputs: Outputs, tmp_path: Path) -> None:
    from tests.helpers import cli

    proc = cli("toolprmbench", "report", str(outputs.root / "lm-schema"), str(outputs.root / "logs-rebuilt"),
               "--out", str(tmp_path / "out"), "--readme-section")
    assert proc.stdout.count("## Evaluation Report") == 1 and (tmp_path / "out" / "report.html").is_file()
    # stdout is the section alone (the README's update pasted a status line above it)
    assert proc.stdout.startswith("## Evaluation Report") and "report: " in proc.stderr
    assert "toolprmbench report" in proc.stdout  # the command that made it
    garbage = tmp_path / "broken.eval"
    garbage.write_bytes(b"\x00")
    failed = cli("toolprmbench", "report", str(garbage), "--out", str(tmp_path / "x"), check=False)
    assert failed.returncode == 2 and str(garbage) in failed.stderr and "Traceback" not in failed.stderr


# ----------------------------------------------------------------------------- the HTML in Chromium


class DevTools:
    """Chromium driven over its DevTools pipe (file descriptors 3 and 4: no port, no extra package)."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-sync", "--disable-quic", "--remote-debugging-pipe")

    def __init__(self, executable: str, profile: Path) -> None:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()

        def wire() -> None:  # runs in the child before exec: the pipe ends become fds 3 and 4
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen([executable, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     pass_fds=(3, 4), preexec_fn=wire, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self.writer = os.fdopen(from_parent, "wb", buffering=0)
        self.reader = os.fdopen(to_parent, "rb", buffering=0)
        self.buffer, self.next_id, self.events = b"", 0, []

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            chunk = self.reader.read(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {},
                   **({"sessionId": session} if session else {})}
        self.writer.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(event)
            self.events.append(self._message())

    def open(self, page: Path) -> tuple[str, bytes]:
        """Load a page; return its images' state (JSON) and a full-page PNG screenshot."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        self.wait_for("Page.loadEventFired")
        images = self.call("Runtime.evaluate", {"expression": "JSON.stringify(Array.from(document.images).map("
                                                              "i => [i.complete, i.naturalWidth]))",
                                                "returnByValue": True}, session=session)["result"]["value"]
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        return images, base64.b64decode(shot["data"])

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, failed loads, error log entries."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Network.loadingFailed":
                found.append(f"load failed: {params.get('errorText')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                found.append(f"log: {params['entry'].get('text')}")
        return found

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the HTML test needs Debian's chromium: apt-get install -y chromium (`make test` does this)")
    browser = DevTools(executable, Path(tempfile.mkdtemp(dir=tmp_path)))
    yield browser
    browser.close()


def test_the_console_check_catches_errors(chromium: DevTools, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("boom")</script><img src="missing.png"></body></html>')
    images, _ = chromium.open(page)
    problems = "\n".join(chromium.problems())
    assert "boom" in problems and "load failed" in problems and json.loads(images) == [[True, 0]]


def test_html_report_in_headless_chromium(report, chromium: DevTools, tmp_path: Path) -> None:
    report, out = report
    html = (out / "report.html").read_text()
    assert "src=\"data:image/svg+xml;base64," in html and not re.search(r'src="(?!data:)', html)  # self-contained
    images, screenshot = chromium.open(out / "report.html")
    assert chromium.problems() == []
    states = json.loads(images)
    assert len(states) == len(report["plots"]) and all(done and width > 0 for done, width in states)
    (tmp_path / "report.png").write_bytes(screenshot)
    assert screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(screenshot[16:20], "big"), int.from_bytes(screenshot[20:24], "big")
    assert width >= 1300 and height > 3000  # the whole page (less a scrollbar): tables and every plot


def test_hard_tier_runs_have_their_own_section(outputs: Outputs, tmp_path: Path) -> None:
    """The hard tier's tasks (lm-eval `toolprmbench_rebuilt_hard`, Inspect `-T tier=hard`) were
    refused as "not a ToolPRMBench task" or dropped; they are reported in a section of their
    own, never in the full rebuilt set's rows (other cases, other numbers)."""
    from toolprm_tasks.report.readme import readme_section
    from toolprm_tasks.toolprmbench import toolprmbench

    env = outputs.root
    lm_hard = lm_eval_run(tmp_path / "lm-hard", "first", ["toolprmbench_rebuilt_hard"], {"order": "both"})
    inspect_hard = inspect_run(tmp_path / "logs-hard", toolprmbench(order="both", data="rebuilt", tier="hard"),
                               "toolprm-baseline/first")
    report = build([tmp_path / "lm-hard", tmp_path / "logs-hard", env / "lm-rebuilt", env / "logs-rebuilt"])
    assert set(report["sections"]) == {"rebuilt", "rebuilt_hard"}
    hard = rows(report, "rebuilt_hard")
    assert {(r["framework"], r["model"]) for r in hard} == {("lm-eval", "first"), ("inspect", "first")}
    lm = row_of(report, "rebuilt_hard", framework="lm-eval", model="first")
    assert lm["avg"] == lm_hard["results"]["toolprmbench_rebuilt_hard"]["acc,none"] == 0.5
    assert lm["trials"] == sum(lm_hard["n-samples"][t]["effective"] for t in lm_hard["n-samples"])
    inspect = row_of(report, "rebuilt_hard", framework="inspect", model="first")
    assert inspect["avg"] == log_metrics(inspect_hard)["avg"] == 0.5 and inspect["trials"] == lm["trials"]
    # the full set's rows are the same runs as without the hard ones
    assert {(r["framework"], r["model"], r["trials"]) for r in rows(report, "rebuilt")} == {
        (r["framework"], r["model"], r["trials"])
        for r in rows(build([env / "lm-rebuilt", env / "logs-rebuilt"]), "rebuilt")}
    assert all(run["tier"] == ("hard" if "hard" in run["path"] else "all") for run in report["inputs"]["runs"])
    section = readme_section(report)
    assert "### Rebuilt offline data, hard tier" in section


def test_a_reference_names_a_judge_of_the_official_data(outputs: Outputs) -> None:
    """`--reference JUDGE=ROW` places a judge next to a Table 2 row; a judge name that matches no
    row did nothing, in silence (a typo looked like a report without a reference)."""
    from toolprm_tasks.report.board import TABLE2
    from toolprm_tasks.report.discover import ReportError

    paths = [outputs.root / "lm-schema"]
    paper = next(iter(TABLE2))
    (row,) = rows(build(paths, references={"schema": paper}), "official")
    assert row["paper_row"] == paper
    with pytest.raises(ReportError, match=r"--reference names no judge of the official data: \['shcema'\]; "
                                          r"judges are .*schema"):
        build(paths, references={"shcema": paper})
    with pytest.raises(ReportError, match="judges are none: the report has no run on the official data"):
        build([outputs.root / "lm-rebuilt"], references={"schema": paper})


def test_a_row_of_fewer_subsets_is_labelled_by_its_subsets_not_as_other_data(outputs: Outputs, tmp_path: Path) -> None:
    """The same judge on all subsets and on BFCL alone, the same files: the two rows were told
    apart as "data <digest>" (a digest over fewer files), as if they had run on other data."""
    from toolprm_tasks.bfcl import bfcl

    inspect_run(tmp_path / "bfcl-only", bfcl(order="both"), "toolprm-baseline/schema")
    report = build([Path(outputs.inspect_schema.location), tmp_path / "bfcl-only"])
    labels = sorted(r["judge"] for r in rows(report, "official"))
    assert labels == ["schema · subsets bfcl", "schema · subsets gta+tooltalk+bfcl+toolsandbox"], labels
    whole, alone = (row_of(report, "official", framework="inspect", model="schema", judge=label) for label in labels[::-1])
    assert whole["subsets"]["bfcl"]["acc"] == alone["subsets"]["bfcl"]["acc"]  # the same trials


def test_first_rate_interval_is_never_zero_width(report, outputs: Outputs) -> None:
    """`first` answers the first candidate every time: every parsed `first` is 1, the cluster-robust
    SE is 0 and the interval was [100%, 100%], certainty from any number of trials. It is Wilson's
    then: from 1 down to n / (n + z^2) at a rate of 1 (derived by hand from Wilson's formula)."""
    report, _ = report
    row = row_of(report, "official", framework="inspect", model="first")
    (bias,) = [b for b in report["sections"]["official"]["position_bias"]["rows"] if b["judge"] == row["judge"]]
    n = row["trials"]  # every answer of a baseline parses
    z = 1.959963984540054
    assert bias["first_rate"] == 1.0 and bias["interval"].startswith("Wilson 95% (every parsed answer the same")
    assert bias["high"] == 1.0 and bias["low"] == pytest.approx(n / (n + z * z))
    schema = row_of(report, "official", framework="inspect", model="schema", protocol="generative",
                    sources=[outputs.inspect_schema.location])
    (other,) = [b for b in report["sections"]["official"]["position_bias"]["rows"] if b["judge"] == schema["judge"]]
    assert other["interval"] == "cluster-robust 95%" and other["low"] < other["first_rate"] < other["high"]


def test_a_wilson_interval_holds_its_rate_at_0_and_1_and_plots(tmp_path: Path) -> None:
    """At a rate of 1 over 1,404 answers (the README's `first` runs) Wilson's upper bound came out
    1 - 2e-16, below the rate: the position-bias plot's error bar refused the negative length and
    the README's report command ended in a ValueError."""
    from toolprm_tasks.report import plots
    from toolprm_tasks.report.board import _wilson

    for n in range(1, 3000):
        for rate in (0.0, 1.0):
            low, high, _ = _wilson(rate, n, "w")
            assert 0.0 <= low <= rate <= high <= 1.0, (rate, n, low, high)
    low, high, how = _wilson(1.0, 1404, "Wilson 95%")
    table = {"rows": [{"judge": "first", "first_rate": 1.0, "low": low, "high": high, "interval": how}]}
    plot = plots.position_bias("rebuilt", table, tmp_path, "rebuilt data", {"first": ("black", "o")})
    assert plot is not None and (tmp_path / plot.png).exists()
