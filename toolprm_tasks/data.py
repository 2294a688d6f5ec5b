"""The official ToolPRMBench test files: pinned, fetched once into a cache, verified on every read.

Pins (reference: toolprmbench-paper.md): repository David-Li0406/ToolPRMBench at commit
`PINNED_COMMIT`, folder `data/`. ToolSandbox's digest is not published: its file is pinned
by commit only and results say it is unverified.

Environment:
- TOOLPRMBENCH_DATA_DIR: read a local copy instead of the cache (verified against the pins).
- TOOLPRMBENCH_CACHE_DIR: where downloads go (default: the platform's user cache dir).
- TOOLPRMBENCH_ALLOW_UNPINNED=1: accept a local copy whose digest differs (recorded as unpinned).
- TOOLPRMBENCH_BASE_URL: a mirror of the raw-file host (must serve `<base>/<file>`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolprm_tasks.cases import SUBSETS, Case, cases_from_records

logger = logging.getLogger(__name__)

PINNED_REPO = "David-Li0406/ToolPRMBench"
PINNED_COMMIT = "b43164fbb2cd2963e1906a6fe62a86e7ce05973e"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{PINNED_REPO}/{PINNED_COMMIT}/data"


@dataclass(frozen=True)
class PinnedFile:
    subset: str
    filename: str
    cases: int
    size: int | None
    sha256: str | None  # None: not published (pinned by commit only)


PINNED_FILES: dict[str, PinnedFile] = {
    "gta": PinnedFile("gta", "prmbench_GTA.json", 118, 410_147,
                      "dc4cfb906dd2b20ad9452b3afdca5346a4a6a3378e15667fd47fa1c21a54a23c"),
    "tooltalk": PinnedFile("tooltalk", "prmbench_tooltalk.json", 86, 1_635_593,
                           "e5327446f854fae9d9ed5319bd5a418168626aa6327853d145e35cf87f2027a1"),
    "bfcl": PinnedFile("bfcl", "prmbench_bfcl.json", 111, 3_019_158,
                       "3c13646f14abaaeba619d5ba91d6cc64bcd4223472eea62ab91ca94f588f14a8"),
    "toolsandbox": PinnedFile("toolsandbox", "prmbench_ToolSandbox.json", 130, None, None),
}


class DataError(RuntimeError):
    """The benchmark data cannot be had or does not match its pin; the message says what to do."""


@dataclass(frozen=True)
class LoadedSubset:
    subset: str
    path: Path
    sha256: str
    verified: bool  # digest checked against a published pin (rebuilt: against its manifest)
    unpinned: bool  # a local copy whose digest differs, accepted on request
    cases: list[Case]
    data: str = "official"  # or "rebuilt" (never mixed into official-data numbers)

    def fingerprint(self) -> dict[str, Any]:
        info = {"data": self.data, "file": self.path.name, "sha256": self.sha256, "verified": self.verified,
                "unpinned": self.unpinned, "cases": len(self.cases)}
        if self.data == "official":
            info["commit"] = PINNED_COMMIT
        return info


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def cache_dir() -> Path:
    configured = os.environ.get("TOOLPRMBENCH_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("toolprm-tasks")) / PINNED_COMMIT[:12]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _url(pin: PinnedFile) -> str:
    base = os.environ.get("TOOLPRMBENCH_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/{pin.filename}"


def _offline_advice(pin: PinnedFile, url: str, reason: str) -> str:
    return (
        f"could not download {pin.filename} from {url}: {reason}.\n"
        f"Without network access: fetch that URL on a machine that has it, put the file in a "
        f"folder and set TOOLPRMBENCH_DATA_DIR to that folder (it is verified against the "
        f"pinned sha256), or run `toolprmbench download` there and copy {cache_dir()} here "
        f"(or point TOOLPRMBENCH_CACHE_DIR at the copy)."
    )


def _download_once(url: str, target_dir: Path, timeout: float) -> Path:
    """Stream `url` into a temporary file in `target_dir`; return its path (caller verifies)."""
    handle, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=target_dir)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            written = 0
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                written += len(block)
            if expected is not None and written != int(expected):
                raise ConnectionError(f"transfer interrupted: {written} of {expected} bytes")
        return Path(tmp_name)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def download(pin: PinnedFile, *, retries: int = 3, timeout: float = 60.0, backoff: float = 1.0) -> Path:
    """Fetch one pinned file into the cache atomically; retried on transient errors.

    The file only appears under its final name after its size and digest matched, so an
    interrupted or corrupted transfer never leaves a bad cache entry behind.
    """
    target_dir = cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / pin.filename
    url = _url(pin)
    last_error = "unknown error"
    for attempt in range(1, retries + 1):
        try:
            tmp = _download_once(url, target_dir, timeout)
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break  # 404 and friends will not get better
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        else:
            try:
                digest = sha256_file(tmp)
                size = tmp.stat().st_size
                if pin.size is not None and size != pin.size:
                    last_error = f"size {size} bytes, expected {pin.size}"
                elif pin.sha256 is not None and digest != pin.sha256:
                    last_error = f"sha256 {digest}, expected {pin.sha256}"
                else:
                    os.replace(tmp, target)
                    return target
            finally:
                tmp.unlink(missing_ok=True)
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise DataError(_offline_advice(pin, url, last_error))


def _verify(pin: PinnedFile, path: Path, *, allow_unpinned: bool) -> tuple[str, bool, bool]:
    digest = sha256_file(path)
    if pin.sha256 is None:
        return digest, False, False
    if digest == pin.sha256:
        return digest, True, False
    if allow_unpinned:
        return digest, False, True
    raise DataError(
        f"{path}: sha256 {digest} does not match the pinned {pin.sha256} "
        f"({PINNED_REPO}@{PINNED_COMMIT[:12]}, {pin.filename}). Use the pinned file, or set "
        f"TOOLPRMBENCH_ALLOW_UNPINNED=1 to evaluate this copy anyway (results are marked unpinned)."
    )


def locate(subset: str, *, fetch: bool = True) -> tuple[Path, str, bool, bool]:
    """Find (and if needed download) a subset file; return (path, sha256, verified, unpinned)."""
    pin = PINNED_FILES[subset]
    data_dir = os.environ.get("TOOLPRMBENCH_DATA_DIR")
    if data_dir:
        path = Path(data_dir).expanduser() / pin.filename
        if not path.is_file():
            raise DataError(f"TOOLPRMBENCH_DATA_DIR={data_dir} has no {pin.filename} (subset {subset})")
        return (path, *_verify(pin, path, allow_unpinned=_env_flag("TOOLPRMBENCH_ALLOW_UNPINNED")))
    path = cache_dir() / pin.filename
    if path.is_file():
        digest, verified, _ = _verify(pin, path, allow_unpinned=True)
        if pin.sha256 is None or verified:
            return path, digest, verified, False
        path.unlink()  # a cache entry that no longer verifies is refetched, never used
    if not fetch:
        raise DataError(f"{pin.filename} is not in the cache {cache_dir()}; run `toolprmbench download`")
    path = download(pin)
    return (path, *_verify(pin, path, allow_unpinned=False))


def read_records(path: Path) -> Any:
    """A release file: a JSON list (test files) or JSON Lines (training files)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1:
            records = []
            for number, line in enumerate(lines):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as line_exc:
                    raise DataError(f"{path}: record {number}: not valid JSON ({line_exc})") from None
            return records
        raise DataError(f"{path}: not valid JSON ({exc})") from None


_LOADED: dict[tuple[str, str], LoadedSubset] = {}


def load_subset(subset: str) -> LoadedSubset:
    """Locate, verify and validate one subset (memoised per file digest within a process)."""
    if subset not in PINNED_FILES:
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    path, digest, verified, unpinned = locate(subset)
    key = (str(path), digest)
    if key not in _LOADED:
        cases = cases_from_records(read_records(path), subset=subset, source=path.name)
        _LOADED[key] = LoadedSubset(subset, path, digest, verified, unpinned, cases)
        if unpinned:
            logger.warning("toolprm-tasks: evaluating UNPINNED data %s (sha256 %s, pinned %s): results are "
                           "not comparable with the official benchmark", path, digest, PINNED_FILES[subset].sha256)
    return _LOADED[key]


def load_subsets(subsets: Iterable[str], data: str = "official") -> list[LoadedSubset]:
    if data == "official":
        return [load_subset(s) for s in subsets]
    if data == "rebuilt":
        return [load_rebuilt(s) for s in subsets]
    raise ValueError(f"unknown data {data!r}; expected 'official' or 'rebuilt'")


# ----------------------------------------------------------------------------- rebuilt data

REBUILT_SUBSETS: tuple[str, ...] = ("bfcl", "tooltalk")


def rebuilt_dir(seed: int = 0) -> Path:
    """TOOLPRMBENCH_REBUILT_DIR (a `toolprmbench build` output), else a cache folder that is
    built on first use from the installed source packages."""
    configured = os.environ.get("TOOLPRMBENCH_REBUILT_DIR")
    if configured:
        return Path(configured).expanduser()
    from toolprm_tasks.rebuild.build import BUILD_VERSION

    return cache_dir() / f"rebuilt-v{BUILD_VERSION}-seed{seed}"


def load_rebuilt(subset: str, seed: int = 0) -> LoadedSubset:
    """The rebuilt (offline) cases of one source, verified against their manifest."""
    folder = rebuilt_dir(seed)
    if subset not in REBUILT_SUBSETS and not (folder / f"prmbench_rebuilt_{subset}.json").is_file():
        raise DataError(f"no rebuilt data for {subset!r} in {folder}: built on first use are "
                        f"{', '.join(REBUILT_SUBSETS)}; GTA needs your copy of its dataset.json "
                        "(`toolprmbench build --source gta --gta-dataset PATH --out DIR`, then "
                        "TOOLPRMBENCH_REBUILT_DIR=DIR); ToolSandbox is not supported yet")
    path = folder / f"prmbench_rebuilt_{subset}.json"
    manifest_path = folder / f"manifest_{subset}.json"
    if not path.is_file() and subset in REBUILT_SUBSETS and not os.environ.get("TOOLPRMBENCH_REBUILT_DIR"):
        from toolprm_tasks.rebuild.build import build

        logger.warning("toolprm-tasks: building the rebuilt %s cases into %s (first use)", subset, folder)
        build([subset], folder, seed=seed)
    if not path.is_file() or not manifest_path.is_file():
        raise DataError(f"{folder}: no {path.name} with its manifest; run `toolprmbench build --source {subset} "
                        f"--out {folder}`")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    digest = sha256_file(path)
    expected = manifest.get("files", {}).get(path.name)
    if digest != expected:
        raise DataError(f"{path}: sha256 {digest} does not match its manifest ({expected}); rebuild it")
    key = (str(path), digest)
    if key not in _LOADED:
        cases = cases_from_records(read_records(path), subset=subset, source=path.name)
        _LOADED[key] = LoadedSubset(subset, path, digest, True, False, cases, data="rebuilt")
    return _LOADED[key]


def fingerprint(loaded: Iterable[LoadedSubset]) -> dict[str, Any]:
    """What results carry: per-file digests and one combined digest over them."""
    loaded = list(loaded)
    files = {item.subset: item.fingerprint() for item in loaded}
    combined = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    data = sorted({item.data for item in loaded})
    info = {"data": data[0] if len(data) == 1 else data, "sha256": combined, "files": files,
            "unpinned": any(f["unpinned"] for f in files.values())}
    if "official" in data:
        info.update({"repo": PINNED_REPO, "commit": PINNED_COMMIT})
    return info
