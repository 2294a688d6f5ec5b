"""The benchmark data: the official ToolPRMBench files, pinned and verified, and the rebuilt cases.

One job per module; this package only re-exports what the rest of the code uses:
- `pins`: the release files pinned (repository, commit, names, sizes, digests, record counts);
- `cache`: the cache folder, its ledger of files this tool wrote, and trust-on-first-use records
  for files whose digest is not published;
- `official`: finding, downloading and verifying an official file (test or train);
- `rebuilt`: the default rebuilt build's folder, building it (an explicit step), loading a build;
- `subsets`: what a run gets (official or rebuilt, all or one tier);
- `loaded`: a loaded subset, the in-process memo of verified files, the fingerprint results carry;
- `offline`: what to run when the official data cannot be had (`DataUnavailable`);
- `errors`, `jsonio` (strict JSON reading).
See docs/data.md for the environment variables and the rules.
"""

from __future__ import annotations

from toolprm_tasks.core.fetch import sha256_file
from toolprm_tasks.data import jsonio, offline
from toolprm_tasks.data.cache import cache_dir, first_use_path
from toolprm_tasks.data.errors import DataError, LocalRecordError
from toolprm_tasks.data.loaded import LoadedSubset, describe_data, fingerprint
from toolprm_tasks.data.official import cached, download, load_subset, locate, read_records
from toolprm_tasks.data.offline import REBUILT_SUBSETS, DataUnavailable
from toolprm_tasks.data.pins import (
    DEFAULT_BASE_URL,
    PINNED_COMMIT,
    PINNED_FILES,
    PINNED_REPO,
    PINNED_TRAIN_FILES,
    PinnedFile,
    pinned_file,
)
from toolprm_tasks.data.rebuilt import (
    BUILD_COMMAND,
    BUILD_COST,
    NotBuilt,
    build_default,
    default_built,
    default_rebuilt_dir,
    load_rebuilt,
    require_default_rebuilt,
)
from toolprm_tasks.data.subsets import load_subsets, select_tier

__all__ = [
    "BUILD_COMMAND", "BUILD_COST", "DEFAULT_BASE_URL", "PINNED_COMMIT", "PINNED_FILES", "PINNED_REPO",
    "PINNED_TRAIN_FILES", "REBUILT_SUBSETS", "DataError", "DataUnavailable", "LocalRecordError", "LoadedSubset", "NotBuilt",
    "PinnedFile", "build_default", "cache_dir", "cached", "default_built", "default_rebuilt_dir", "describe_data",
    "download", "fingerprint", "first_use_path", "jsonio", "load_rebuilt", "load_subset", "load_subsets",
    "locate", "offline", "pinned_file", "read_records", "require_default_rebuilt", "select_tier", "sha256_file",
]
