"""Pinned data: download into the cache against a loopback HTTP server, local copies, pins."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolprm_tasks import data
from toolprm_tasks.cli import main as cli_main

BODY = b'[{"history": [{"role": "user", "content": "hi"}], "action_chosen": "a", "action_rejected": "b"}]'


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "good"
    requests = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests += 1
        body = BODY
        if self.mode == "corrupt":
            body = BODY.replace(b'"a"', b'"x"')
        if self.mode == "flaky" and type(self).requests == 1:
            self.send_error(503, "busy")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "interrupted":
            self.wfile.write(body[: len(body) // 2])  # then the connection closes
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[_Handler]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = 0
    monkeypatch.setenv("TOOLPRMBENCH_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TOOLPRMBENCH_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "_LOADED", {})
    yield _Handler
    httpd.shutdown()


def _pin(sha: str | None = hashlib.sha256(BODY).hexdigest()) -> data.PinnedFile:
    return data.PinnedFile("gta", "prmbench_GTA.json", 1, len(BODY), sha)


def test_good_download_is_cached_and_verified(server, tmp_path: Path) -> None:
    server.mode = "good"
    path = data.download(_pin(), backoff=0)
    assert path == tmp_path / "cache" / "prmbench_GTA.json"
    assert path.read_bytes() == BODY
    assert [p.name for p in path.parent.iterdir()] == ["prmbench_GTA.json"]  # no partial files left


@pytest.mark.parametrize("mode, reason", [("corrupt", "sha256"), ("interrupted", "")])
def test_bad_transfers_never_reach_the_cache(server, tmp_path: Path, mode: str, reason: str) -> None:
    server.mode = mode
    with pytest.raises(data.DataError, match=f"could not download prmbench_GTA.json.*{reason}"):
        data.download(_pin(), retries=2, backoff=0)
    assert server.requests == 2  # retried
    assert list((tmp_path / "cache").iterdir()) == []


def test_transient_error_is_retried(server) -> None:
    server.mode = "flaky"
    assert data.download(_pin(), retries=3, backoff=0).read_bytes() == BODY
    assert server.requests == 2


def test_no_network_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOOLPRMBENCH_BASE_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path))
    with pytest.raises(data.DataError) as info:
        data.download(_pin(), retries=1)
    assert "TOOLPRMBENCH_DATA_DIR" in str(info.value) and "toolprmbench download" in str(info.value)


def test_local_copy_must_match_the_pin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "prmbench_GTA.json").write_bytes(BODY)
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TOOLPRMBENCH_ALLOW_UNPINNED", raising=False)
    monkeypatch.setattr(data, "_LOADED", {})
    with pytest.raises(data.DataError) as info:
        data.load_subset("gta")
    message = str(info.value)
    assert "prmbench_GTA.json" in message and hashlib.sha256(BODY).hexdigest() in message
    assert data.PINNED_FILES["gta"].sha256 in message
    monkeypatch.setenv("TOOLPRMBENCH_ALLOW_UNPINNED", "1")
    loaded = data.load_subset("gta")
    assert loaded.unpinned and not loaded.verified and len(loaded.cases) == 1
    assert data.fingerprint([loaded])["unpinned"] is True


def test_a_cache_entry_that_no_longer_verifies_is_refetched(server, tmp_path: Path, monkeypatch) -> None:
    server.mode = "good"
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "prmbench_GTA.json").write_bytes(b"[]")  # tampered
    loaded = data.load_subset("gta")
    assert loaded.verified and (cache / "prmbench_GTA.json").read_bytes() == BODY


def test_validate_reports_every_bad_record(tmp_path: Path, capsys) -> None:
    from tests.fixture_data import write_release_files

    write_release_files(tmp_path)
    bfcl = tmp_path / "prmbench_bfcl.json"
    text = bfcl.read_text().replace('"action_rejected"', '"action_rejectd"', 2)
    bfcl.write_text(text)
    assert cli_main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "prmbench_bfcl.json: record 0: field 'action_rejected': missing" in out
    assert "prmbench_bfcl.json: record 1: field 'action_rejected': missing" in out
    assert "differs from the pinned" in out


def test_info_json(data_env, capsys) -> None:
    import json

    assert cli_main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["subsets"]["gta"]["cases"] == 4 and report["subsets"]["gta"]["clusters"] == 3
    assert report["subsets"]["bfcl"]["error_types"]["wrong_params"] == 3
    assert report["fingerprint"]["unpinned"] is True


def test_json_lines_training_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "prmbench_bfcl_train.json"
    path.write_text(BODY.decode()[1:-1] + "\n" + BODY.decode()[1:-1] + "\n", encoding="utf-8")
    records = data.read_records(path)
    assert len(records) == 2 and records[0]["action_chosen"] == "a"
    path.write_text(BODY.decode()[1:-1] + "\n{broken\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=r"prmbench_bfcl_train.json: record 1: not valid JSON"):
        data.read_records(path)


def test_shortcuts_lists_schema_solvable_cases(data_env, capsys) -> None:
    import json

    from tests.fixture_data import SCHEMA_VERDICT

    assert cli_main(["shortcuts", "--json", "--judge", "schema"]) == 0
    report = json.loads(capsys.readouterr().out)
    listed = sorted(cid for subset in report.values() for cid in subset["schema"])
    assert listed == sorted(k for k, v in SCHEMA_VERDICT.items() if v == "chosen")


def test_download_command_fills_the_cache(server, tmp_path: Path, monkeypatch, capsys) -> None:
    server.mode = "good"
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())
    assert cli_main(["download", "--subset", "gta"]) == 0
    assert (tmp_path / "cache" / "prmbench_GTA.json").read_bytes() == BODY
    assert hashlib.sha256(BODY).hexdigest() in capsys.readouterr().out
