"""Fast checks of the report's pieces that need no framework run (the end-to-end tests are in
tests/test_report.py, marked slow)."""

from __future__ import annotations

import json
import math

import pytest

from toolprm_tasks.report.board import avg_se
from toolprm_tasks.report.compat import KNOWN_TASK_VERSIONS, TASK_VERSION, VersionError, canonical_version
from toolprm_tasks.report.paper import SEARCH_FITS, TABLE2, paper_match, table2_row
from toolprm_tasks.report.search_reader import least_squares
from toolprm_tasks.report.tables import count, pct, seconds
from toolprm_tasks.report.writers import clean_json, md_table


def test_versions_known_legacy_newer_and_unknown() -> None:
    assert TASK_VERSION in KNOWN_TASK_VERSIONS and canonical_version(TASK_VERSION) == TASK_VERSION
    assert canonical_version(1.0) == canonical_version("1.0") == "1-A"  # lm-eval YAMLs before 2-A
    newest = max(int(v.split("-")[0]) for v in KNOWN_TASK_VERSIONS)
    with pytest.raises(VersionError, match=f"{newest + 1}-A is newer"):
        canonical_version(f"{newest + 1}-A")
    for raw in ("1-Z", "0.9", "", None, "latest"):
        with pytest.raises(VersionError, match="unknown task version"):
            canonical_version(raw)
    # the search task has versions of its own, and no lm-eval legacy
    from toolprm_tasks.report.compat import search_versions

    (current,) = search_versions()[-1:]
    assert canonical_version(current, known=search_versions(), legacy={}) == current
    with pytest.raises(VersionError, match="is newer"):
        canonical_version(f"{int(current.split('-')[0]) + 1}-A", known=search_versions(), legacy={})


def test_table2_avg_is_the_mean_of_its_subsets() -> None:
    """A typo in the transcribed table shows up here: the paper's AVG is the unweighted mean of
    its four subsets, to the paper's one decimal."""
    for name, values in TABLE2.items():
        assert abs(sum(values[:4]) / 4 - values[4]) <= 0.051, name
        row = table2_row(name)
        assert row["AVG"] == pytest.approx(values[4] / 100)
    assert paper_match("Qwen/Qwen3-4B") == "Qwen3-4B" and paper_match("qwen3-4b") == "Qwen3-4B"
    assert paper_match("Qwen3-4B-Instruct-2507") is None  # another model: never matched by a prefix
    # the paper's break-even points (gain 0) sit near 49% (GTA) and 52% (BFCL)
    assert -SEARCH_FITS["gta"][1] / SEARCH_FITS["gta"][0] == pytest.approx(48.8, abs=0.1)
    assert -SEARCH_FITS["bfcl"][1] / SEARCH_FITS["bfcl"][0] == pytest.approx(51.5, abs=0.1)


def test_standard_error_of_an_unweighted_mean_of_independent_subsets() -> None:
    # Var(mean of 4) = (0.1² + 0.2² + 0.2² + 0.4²) / 16 = 0.25 / 16: SE = 0.5 / 4
    assert avg_se([0.1, 0.2, 0.2, 0.4]) == pytest.approx(0.125)
    assert avg_se([0.05, None]) is None and avg_se([]) is None


def test_least_squares_recovers_an_exact_line() -> None:
    fit = least_squares([(x, 0.19 * x - 9.28) for x in (30.0, 50.0, 70.0, 90.0)])
    assert fit["slope"] == pytest.approx(0.19) and fit["intercept"] == pytest.approx(-9.28)
    assert least_squares([(50.0, 1.0), (50.0, 2.0)]) is None  # no spread in x: no line


def test_cells_and_escaping() -> None:
    assert pct(0.6458333) == "64.6" and pct(0.5, 0.0611) == "50.0 ± 6.1" and pct(None) == "—"
    assert seconds(3.04) == "3.0 s" and seconds(185) == "3 min 05 s" and seconds(3 * 3600 + 65) == "3 h 01 min"
    assert count(4210) == "4210" and count(1_234_567) == "1.2 M"
    table = md_table(["judge", "x"], [["a|b <script>", "1"]])
    assert "a\\|b &lt;script>" in table and table.count("\n") == 2
    assert json.loads(json.dumps(clean_json({"a": math.nan, "b": [math.inf, 1.0]}), allow_nan=False)) == {
        "a": None, "b": [None, 1.0]}


def test_secrets_in_model_arguments_never_reach_a_report() -> None:
    from toolprm_tasks.report.lm_eval_reader import _model_args, other_args
    from toolprm_tasks.report.redact import redact
    from toolprm_tasks.report.validate import Where

    args = _model_args({"model_args": "pretrained=/m,kind=verifier,base_url=http://127.0.0.1:8000,api_key=sk-SECRET"},
                       Where("results.json"))
    assert args["api_key"] == "***" and args["kind"] == "verifier" and args["base_url"] == "http://127.0.0.1:8000"
    assert "sk-SECRET" not in other_args({"api_key": "sk-SECRET", "hf_token": "hf-SECRET", "kind": "step"})
    # the one rule (report.redact): secret names, URL passwords, secret query parameters, HTTP credentials
    for key in ("Authorization", "api_key", "OPENAI_API_KEY", "hf_token", "client_secret", "password", "auth",
                "credentials", "Cookie", "x-signature"):
        assert redact(key, "s3cr3t") == "***", key
    assert redact("base_url", "https://user:pa:ss@host:8000/v1") == "https://user:***@host:8000/v1"
    assert redact("base_url", "http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"  # no password: as is
    assert redact("url", "https://h/v1?api_key=abc&model=x#f") == "https://h/v1?api_key=***&model=x#f"
    assert redact("headers", "{'X': 'Bearer abc.def'}") == "{'X': 'Bearer ***'}"
    assert redact("kind", "verifier") == "verifier" and redact("max_length", 512) == "512"
    # token counts and tokenizers name no secret: hidden, `-T max_tokens=***` was refused when pasted back
    for key, value in (("max_tokens", 32), ("judge_max_tokens", 64), ("max_new_tokens", 8), ("max_gen_toks", 32),
                       ("tokenizer", "/models/tok"), ("prompt_tokens", 100), ("add_bos_token", True),
                       ("prefix_token_id", 7), ("think_end_token", "</think>"), ("tokenized_requests", False)):
        assert redact(key, value) == str(value), key
    for key in ("access_token", "auth_token", "token", "api_token", "refresh_token", "id_token"):
        assert redact(key, "s3cr3t") == "***", key


def test_a_samples_file_with_a_unicode_line_separator_in_an_answer_is_read(tmp_path) -> None:
    from toolprm_tasks.report.lm_eval_reader import _samples

    results = tmp_path / "results_2026-11-26T10-00-00.000000.json"
    results.write_text("{}", encoding="utf-8")
    row = {"doc": {"case_id": "bfcl-0000"}, "acc": {"correct": 1.0}, "resps": [["Action1\u2028Action2\u0085"]]}
    sample_file = tmp_path / "samples_toolprmbench_bfcl_2026-11-26T10-00-00.000000.jsonl"
    sample_file.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")  # as lm-eval writes
    assert _samples(results, "toolprmbench_bfcl") == [row]
