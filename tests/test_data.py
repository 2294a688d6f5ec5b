"""Pinned data: download into the cache against a loopback HTTP server, local copies, pins."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolprm_tasks import data
from toolprm_tasks.cli import main as cli_main

BODY = b'[{"history": [{"role": "user", "content": "hi"}], "action_chosen": "a", "action_rejected": "b"}]'
# two valid records, and a different valid pair (a mirror that later serves another file)
TS_BODY = json.dumps([{"history": [{"role": "user", "content": f"q{i}"}], "action_chosen": "a",
                       "action_rejected": "b"} for i in range(2)]).encode()
TS_OTHER = TS_BODY.replace(b'"q1"', b'"q9"')


class _Handler(http.server.BaseHTTPRequestHandler):
    """A mirror with failure modes: each one a way a real mirror or proxy has misbehaved."""

    mode = "good"
    body = BODY
    requests = 0
    sent = 0  # body bytes written in the last request
    drip_interval = 0.1

    def do_GET(self) -> None:  # noqa: N802
        cls = type(self)
        cls.requests += 1
        cls.sent = 0
        body = cls.body
        if self.mode == "corrupt":
            body = body.replace(b'"a"', b'"x"')
        if self.mode == "flaky" and cls.requests == 1:
            self.send_error(503, "busy")
            return
        if self.mode == "html":
            body = b"<html>rate limited</html>"  # 25 bytes, status 200
        self.send_response(200)
        try:
            if self.mode == "drip":  # a byte now and then, never finishing (no length announced)
                self.end_headers()
                for _ in range(int(30 / self.drip_interval)):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    cls.sent += 1
                    time.sleep(self.drip_interval)
                return
            if self.mode in ("huge", "huge_declared"):  # 200 MB of zeros
                if self.mode == "huge_declared":
                    self.send_header("Content-Length", str(200 << 20))
                self.end_headers()
                block = b"0" * (1 << 16)
                for _ in range((200 << 20) // len(block)):
                    self.wfile.write(block)
                    cls.sent += len(block)
                return
            if self.mode == "no_length_half":  # no Content-Length, the connection drops halfway
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.mode == "interrupted":
                self.wfile.write(body[: len(body) // 2])  # then the connection closes
                return
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up: expected in the drip and huge modes

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[_Handler]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    _Handler.requests, _Handler.body, _Handler.mode = 0, BODY, "good"
    monkeypatch.setenv("TOOLPRMBENCH_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("TOOLPRMBENCH_DATA_DIR", "TOOLPRMBENCH_ALLOW_UNPINNED", "TOOLPRMBENCH_DOWNLOAD_DEADLINE",
                 "TOOLPRMBENCH_MAX_DOWNLOAD_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    monkeypatch.setattr(data.official, "RETRY_BACKOFF_S", 0.0)  # retries without pauses (loaders use the default)
    yield _Handler
    httpd.shutdown()


def _pin(sha: str | None = hashlib.sha256(BODY).hexdigest()) -> data.PinnedFile:
    return data.PinnedFile("gta", "prmbench_GTA.json", 1, len(BODY), sha)


def test_good_download_is_cached_and_verified(server, tmp_path: Path) -> None:
    server.mode = "good"
    path = data.download(_pin(), backoff=0)
    assert path == tmp_path / "cache" / "prmbench_GTA.json"
    assert path.read_bytes() == BODY
    assert not [p.name for p in path.parent.iterdir() if "partial" in p.name]  # no partial files left


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
    monkeypatch.setattr(data.loaded, "_LOADED", {})
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
    data.load_subset("gta")  # downloaded: a file this tool wrote
    (cache / "prmbench_GTA.json").write_bytes(b"[]")  # then damaged
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    loaded = data.load_subset("gta")
    assert loaded.verified and (cache / "prmbench_GTA.json").read_bytes() == BODY
    assert server.requests == 2


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
    text = bfcl.read_text().replace('"history"', '"histroy"', 1)  # was "expected a list of turns, got null"
    bfcl.write_text(text)
    assert cli_main(["validate", str(tmp_path)]) == 1
    assert "prmbench_bfcl.json: record 0: field 'history': missing" in capsys.readouterr().out


def test_info_json(data_env, capsys) -> None:
    import json

    assert cli_main(["info", "--data", "official", "--json"]) == 0
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
    with pytest.raises(data.DataError, match=r"prmbench_bfcl_train.json: record 1: line 2 column \d+: not valid JSON"):
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


# ----------------------------------------------------------------------------- hardening (issue 8)

def _ts_pin(cases: int = 2) -> data.PinnedFile:
    """A pin like ToolSandbox's: record count known, size and digest not published."""
    return data.PinnedFile("toolsandbox", "prmbench_ToolSandbox.json", cases, None, None)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("mode, body, reason", [
    ("html", TS_BODY, "not valid JSON"),  # a 25-byte HTML page with status 200
    ("no_length_half", TS_BODY, "not valid JSON"),  # half a file, no Content-Length to notice it
    ("good", b"[]", "no records"),
    ("good", TS_BODY.replace(b"[{", b'[{"history": [{"role": "user", "content": "q7"}], "action_chosen": "a", '
                             b'"action_rejected": "b"}, {', 1), "3 records, the release has 2"),
    ("good", TS_BODY.replace(b'"action_chosen": "a"', b'"action_chosen": 7', 1), "record 0: field 'action_chosen'"),
])
def test_unpublished_digest_file_is_validated_before_caching(server, tmp_path: Path, monkeypatch, mode: str,
                                                               body: bytes, reason: str) -> None:
    server.mode, server.body = mode, body
    monkeypatch.setitem(data.PINNED_FILES, "toolsandbox", _ts_pin())
    with pytest.raises(data.DataError, match=reason) as info:
        data.download(data.PINNED_FILES["toolsandbox"], retries=1, backoff=0)
    # the server answered: that is not being offline, and the message does not say it is
    assert "the server answered, but not with the file" in str(info.value)
    assert "not available offline" not in str(info.value)
    assert _files(tmp_path / "cache") == []  # nothing cached, no first-use digest recorded
    with pytest.raises(data.DataError, match=reason):
        data.load_subset("toolsandbox")
    assert "prmbench_ToolSandbox.json" not in _files(tmp_path / "cache")


def test_first_use_digest_is_recorded_and_a_later_change_refused(server, tmp_path: Path, monkeypatch) -> None:
    server.body = TS_BODY
    monkeypatch.setitem(data.PINNED_FILES, "toolsandbox", _ts_pin())
    loaded = data.load_subset("toolsandbox")
    assert (loaded.verified, loaded.unpinned, len(loaded.cases)) == (False, False, 2)  # "digest not published"
    record = json.loads((tmp_path / "cache" / "prmbench_ToolSandbox.json.first-use.json").read_text())
    assert record["sha256"] == hashlib.sha256(TS_BODY).hexdigest() and record["records"] == 2
    # the cached copy gets damaged and the mirror now serves another (valid) file
    (tmp_path / "cache" / "prmbench_ToolSandbox.json").write_bytes(b"[]")
    server.body = TS_OTHER
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    with pytest.raises(data.DataError, match="first used") as info:
        data.load_subset("toolsandbox")
    assert hashlib.sha256(TS_OTHER).hexdigest() in str(info.value) and "TOOLPRMBENCH_ALLOW_UNPINNED" in str(info.value)
    # a local copy that differs from the first-used file is refused too, unless opted in
    local = tmp_path / "local"
    local.mkdir()
    (local / "prmbench_ToolSandbox.json").write_bytes(TS_OTHER)
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(local))
    with pytest.raises(data.DataError, match="first used"):
        data.load_subset("toolsandbox")
    monkeypatch.setenv("TOOLPRMBENCH_ALLOW_UNPINNED", "1")
    loaded = data.load_subset("toolsandbox")
    assert loaded.unpinned and not loaded.verified
    # the first-use record is never moved by an opted-in copy
    assert json.loads((tmp_path / "cache" / "prmbench_ToolSandbox.json.first-use.json").read_text()) == record


def test_same_first_use_file_refetched_after_damage(server, tmp_path: Path, monkeypatch) -> None:
    server.body = TS_BODY
    monkeypatch.setitem(data.PINNED_FILES, "toolsandbox", _ts_pin())
    data.load_subset("toolsandbox")
    (tmp_path / "cache" / "prmbench_ToolSandbox.json").write_bytes(TS_BODY[:10])
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    assert len(data.load_subset("toolsandbox").cases) == 2
    assert (tmp_path / "cache" / "prmbench_ToolSandbox.json").read_bytes() == TS_BODY


def test_a_dripping_mirror_fails_at_the_deadline(server, tmp_path: Path, monkeypatch) -> None:
    server.mode = "drip"
    with pytest.raises(data.DataError, match="deadline"):
        data.download(_pin(), retries=3, backoff=0, timeout=5, deadline=0.5)
    assert server.sent < 1000  # it stopped reading long before the body could end
    assert _files(tmp_path / "cache") == []
    monkeypatch.setenv("TOOLPRMBENCH_DOWNLOAD_DEADLINE", "0.5")  # the same through the environment
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())
    with pytest.raises(data.DataError, match="TOOLPRMBENCH_DOWNLOAD_DEADLINE"):
        data.load_subset("gta")


@pytest.mark.parametrize("mode", ["huge", "huge_declared"])
def test_an_oversized_body_is_never_written(server, tmp_path: Path, monkeypatch, mode: str) -> None:
    server.mode = mode
    with pytest.raises(data.DataError, match=f"more than {len(BODY)} bytes"):
        data.download(_pin(), retries=1, backoff=0)  # the pinned size is the limit
    assert server.sent < 64 << 20  # far from the 200 MB: reading stopped at the limit
    assert _files(tmp_path / "cache") == []
    # no pinned size: a cap, from the argument or the environment
    with pytest.raises(data.DataError, match="more than 4096 bytes"):
        data.download(_ts_pin(), retries=1, backoff=0, max_bytes=4096)
    monkeypatch.setenv("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "2048")
    with pytest.raises(data.DataError, match="more than 2048 bytes"):
        data.download(_ts_pin(), retries=1, backoff=0)
    assert _files(tmp_path / "cache") == []


def test_sigterm_during_a_download_leaves_no_partial_file(server, tmp_path: Path) -> None:
    server.mode = "drip"
    cache = tmp_path / "cache"
    code = ("from toolprm_tasks import data\n"
            "data.download(data.PinnedFile('gta', 'prmbench_GTA.json', 1, None, None), retries=1, timeout=30)")
    env = {**os.environ, "TOOLPRMBENCH_CACHE_DIR": str(cache)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        for _ in range(400):  # until the transfer is under way (its partial file exists)
            if cache.is_dir() and [p for p in cache.iterdir() if "partial" in p.name]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the download never started")
        time.sleep(0.3)  # a few bytes in
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM  # still ends the way SIGTERM ends a process
    finally:
        proc.kill()
        proc.wait()
    assert [p.name for p in cache.iterdir() if "partial" in p.name] == []


def test_a_read_only_cache_is_not_a_network_error(server, tmp_path: Path, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "cache"))

    # as root a chmod does not stop writes, so the refusal is what the OS would raise
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(data.DataError) as info:
        data.download(_pin(), retries=3, backoff=0)
    message = str(info.value)
    assert "not writable" in message and "TOOLPRMBENCH_CACHE_DIR" in message and "Permission denied" in message
    assert "network" not in message and server.requests == 0  # not retried, no network advice


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_cache_folder(server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        with pytest.raises(data.DataError, match="not writable"):
            data.download(_pin(), retries=3, backoff=0)
        assert server.requests == 0
    finally:
        cache.chmod(0o755)


def test_a_users_own_file_in_the_cache_folder_is_never_replaced(server, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())
    cache = tmp_path / "cache"
    cache.mkdir()
    own = b'[{"my": "own notes, not the benchmark"}]'
    (cache / "prmbench_GTA.json").write_bytes(own)
    with pytest.raises(data.DataError, match="not written by toolprm-tasks"):
        data.load_subset("gta")
    assert (cache / "prmbench_GTA.json").read_bytes() == own and server.requests == 0
    assert cli_main(["download", "--subset", "gta"]) == 2
    assert "not written by toolprm-tasks" in capsys.readouterr().err
    with pytest.raises(data.DataError, match="not written by toolprm-tasks"):
        data.download(_pin(), retries=1, backoff=0)
    assert (cache / "prmbench_GTA.json").read_bytes() == own and _files(cache) == ["prmbench_GTA.json"]


def _damaged_record(server, tmp_path: Path, monkeypatch, content: str, *, refetch: bool) -> tuple[Path, int]:
    """ToolSandbox downloaded once, its first-use record replaced by `content` (with `refetch`,
    the cached copy cut short too, so the next load downloads again); the record's path and the
    server's request count so far."""
    server.body = TS_BODY
    monkeypatch.setitem(data.PINNED_FILES, "toolsandbox", _ts_pin())
    data.load_subset("toolsandbox")
    if refetch:
        (tmp_path / "cache" / "prmbench_ToolSandbox.json").write_bytes(TS_BODY[:10])  # forces a new download
    record = tmp_path / "cache" / "prmbench_ToolSandbox.json.first-use.json"
    record.write_text(content, encoding="utf-8")
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    return record, server.requests


def test_a_damaged_first_use_record_is_named_not_blamed_on_the_mirror(server, tmp_path: Path, monkeypatch) -> None:
    """A broken record of our own is a local problem: downloading again cannot fix it, so the error
    names the record at once (no retries, no 'could not download')."""
    record, before = _damaged_record(server, tmp_path, monkeypatch, "{broken", refetch=True)
    with pytest.raises(data.DataError) as info:
        data.load_subset("toolsandbox")
    message = str(info.value)
    assert str(record) in message and "not a record this tool writes" in message, message
    assert "could not download" not in message
    assert server.requests - before == 1  # the one download that found it; no retries
    assert record.read_text(encoding="utf-8") == "{broken"  # never overwritten


def test_a_damaged_ledger_is_named_and_never_rewritten(server, tmp_path: Path, monkeypatch) -> None:
    """Rewriting a damaged ledger from nothing would forget the files it lists: refuse, name it."""
    monkeypatch.setenv("TOOLPRMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    server.mode = "good"
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())
    data.load_subset("gta")
    ledger = next((tmp_path / "cache").glob(".toolprm-tasks-files.json"))
    record = json.loads(ledger.read_text(encoding="utf-8"))
    record["files"] = ["prmbench_GTA.json"]  # a list where file name: sha256 belongs
    ledger.write_text(json.dumps(record), encoding="utf-8")
    damaged = ledger.read_bytes()
    (tmp_path / "cache" / "prmbench_GTA.json").write_bytes(BODY[:10])  # forces a new download
    monkeypatch.setattr(data.loaded, "_LOADED", {})
    with pytest.raises(data.DataError) as info:
        data.load_subset("gta")
    assert str(ledger) in str(info.value) and "field 'files'" in str(info.value)
    assert ledger.read_bytes() == damaged


def test_a_file_replaced_while_it_is_read_is_refused(tmp_path: Path, monkeypatch) -> None:
    """The records used must be those of the bytes verified: a copy swapped between the digest
    and the read (another process writing the data folder) is refused, not used as 'verified'."""
    local = tmp_path / "local"
    local.mkdir()
    path = local / "prmbench_GTA.json"
    path.write_bytes(BODY)
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(local))
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())
    read = data.loaded.jsonio.read_records

    def read_then_swap(target: Path, name: str | None = None) -> object:
        records = read(target, name)
        target.write_bytes(BODY.replace(b"[{", b"[ {", 1))  # another copy lands after the read
        return records

    monkeypatch.setattr(data.loaded.jsonio, "read_records", read_then_swap)
    with pytest.raises(data.DataError, match="changed while it was read"):
        data.load_subset("gta")


@pytest.mark.parametrize("error", [
    data.DataUnavailable("gta", "offline", "lm-eval", "_prm", "download"),
    data.DataUnavailable("gta", "an HTML page", "inspect", answered=True),
    data.NotBuilt("bfcl", Path("some/folder"), 3),
])
def test_data_errors_survive_a_process_boundary(error: data.DataError) -> None:
    """Errors raised in a worker (datasets' num_proc, a subprocess) are pickled back to the parent."""
    import pickle

    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)


def test_an_unreadable_data_file_is_a_data_error_naming_it(tmp_path: Path, monkeypatch) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "prmbench_GTA.json").write_bytes(BODY)
    monkeypatch.setenv("TOOLPRMBENCH_DATA_DIR", str(local))
    monkeypatch.setitem(data.PINNED_FILES, "gta", _pin())

    def denied(path: Path) -> str:  # as root a chmod does not stop a read: the OSError itself
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(data.loaded, "sha256_file", denied)
    with pytest.raises(data.DataError, match=r"prmbench_GTA\.json: cannot be read"):
        data.load_subset("gta")


# ----------------------------------------------------------------------------- cache records, settings, messages

@pytest.mark.parametrize("damage", ['{"written_by": "someone"}', '{"written_by": "toolprm-tasks"}'])
def test_a_damaged_first_use_record_beside_a_good_copy_downloads_nothing(server, tmp_path: Path, monkeypatch,
                                                                         damage: str) -> None:
    """Not ours, or ours without its sha256: named at once (LocalRecordError), never "repaired" by a
    download, never retried as a mirror problem, never reported as "not available offline"."""
    record, before = _damaged_record(server, tmp_path, monkeypatch, damage, refetch=False)
    with pytest.raises(data.LocalRecordError) as info:
        data.load_subset("toolsandbox")
    assert str(record) in str(info.value) and server.requests == before  # no download
    assert record.read_text(encoding="utf-8") == damage


def test_a_first_use_record_without_its_digest_is_named_not_retried(server, tmp_path: Path, monkeypatch) -> None:
    record, before = _damaged_record(server, tmp_path, monkeypatch, '{"written_by": "toolprm-tasks", "records": 2}',
                                     refetch=True)
    with pytest.raises(data.LocalRecordError) as info:
        data.load_subset("toolsandbox")
    message = str(info.value)
    assert str(record) in message and "field 'sha256'" in message and "offline" not in message
    assert server.requests - before == 1  # the one download that found it; no retries


def test_concurrent_ledger_updates_keep_every_entry(tmp_path: Path, monkeypatch) -> None:
    """Two downloads listing their files at once: the second waits for the first's read-modify-write
    instead of overwriting it (a dropped entry makes a file the tool wrote "not its own")."""
    from toolprm_tasks.data import cache

    folder = tmp_path / "cache"
    folder.mkdir()
    read_ledger = cache._ledger
    first_read, go_on = threading.Event(), threading.Event()

    def slow_ledger(where: Path) -> dict[str, str]:
        files = read_ledger(where)
        if threading.current_thread().name == "first":  # read, then pause before writing
            first_read.set()
            go_on.wait(10)
        return files

    monkeypatch.setattr(cache, "_ledger", slow_ledger)
    first = threading.Thread(target=cache.record_written, args=(folder, "a.json", "1" * 64), name="first")
    second = threading.Thread(target=cache.record_written, args=(folder, "b.json", "2" * 64), name="second")
    first.start()
    assert first_read.wait(10)
    second.start()
    second.join(0.3)  # unlocked, it would write {b} now, and the first then {a}
    go_on.set()
    first.join(10)
    second.join(10)
    assert read_ledger(folder) == {"a.json": "1" * 64, "b.json": "2" * 64}


@pytest.mark.parametrize("name, value", [
    ("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "inf"), ("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "1e400"),
    ("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "0.5"), ("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "2048.5"),
    ("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "nan"), ("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "0"),
    ("TOOLPRMBENCH_DOWNLOAD_DEADLINE", "inf"), ("TOOLPRMBENCH_DOWNLOAD_DEADLINE", "nan"),
    ("TOOLPRMBENCH_DOWNLOAD_DEADLINE", "-1"),
])
def test_download_settings_must_be_finite(server, tmp_path: Path, monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(data.DataError, match=f"{name}='{value}': expected a"):
        data.download(_ts_pin(), retries=1, backoff=0)
    assert server.requests == 0 and _files(tmp_path / "cache") == []


def test_a_whole_byte_limit_in_any_notation_is_taken(server, monkeypatch) -> None:
    server.body = TS_BODY
    monkeypatch.setenv("TOOLPRMBENCH_MAX_DOWNLOAD_BYTES", "2e1")  # 20 bytes
    with pytest.raises(data.DataError, match="more than 20 bytes"):
        data.download(_ts_pin(), retries=1, backoff=0)


def test_a_mirror_serving_another_file_is_not_called_offline(server, tmp_path: Path) -> None:
    server.mode = "corrupt"
    with pytest.raises(data.DataError) as info:
        data.download(_pin(), retries=2, backoff=0)
    message = str(info.value)
    assert not isinstance(info.value, data.DataUnavailable) and "offline" not in message
    assert "the server's copy does not match the pin" in message and hashlib.sha256(BODY).hexdigest() in message
    assert "TOOLPRMBENCH_DATA_DIR" in message and "local copies only" in message
    assert "to evaluate this copy anyway" not in message
    assert message.endswith(".") and ".." not in message
    assert server.requests == 2 and _files(tmp_path / "cache") == []  # retried (a garbled transfer), nothing cached


def test_an_announced_length_over_the_limit_is_not_retried(server, tmp_path: Path) -> None:
    server.mode = "huge_declared"
    with pytest.raises(data.DataError, match=f"announces {200 << 20} bytes: more than {len(BODY)} bytes"):
        data.download(_pin(), retries=3, backoff=0)
    assert server.requests == 1 and _files(tmp_path / "cache") == []
