"""The official release files, pinned: repository, commit, file names, sizes, digests, record counts.

Pins (reference: toolprmbench-paper.md): repository David-Li0406/ToolPRMBench at commit
`PINNED_COMMIT`, folder `data/`. ToolSandbox's digest is not published, nor are those of the
training files: such a file is pinned by commit and record count, and the sha256 of the first
copy used on this machine is recorded beside the cache (`cache.first_use_path`).
"""

from __future__ import annotations

from dataclasses import dataclass

from toolprm_tasks.core.cases import SUBSETS
from toolprm_tasks.core.names import SPLITS, check_choice
from toolprm_tasks.data.errors import DataError

PINNED_REPO = "David-Li0406/ToolPRMBench"
PINNED_COMMIT = "b43164fbb2cd2963e1906a6fe62a86e7ce05973e"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{PINNED_REPO}/{PINNED_COMMIT}/data"


@dataclass(frozen=True)
class PinnedFile:
    subset: str
    filename: str
    cases: int
    size: int | None
    sha256: str | None  # None: not published (pinned by commit and record count only)


PINNED_FILES: dict[str, PinnedFile] = {
    "gta": PinnedFile("gta", "prmbench_GTA.json", 118, 410_147,
                      "dc4cfb906dd2b20ad9452b3afdca5346a4a6a3378e15667fd47fa1c21a54a23c"),
    "tooltalk": PinnedFile("tooltalk", "prmbench_tooltalk.json", 86, 1_635_593,
                           "e5327446f854fae9d9ed5319bd5a418168626aa6327853d145e35cf87f2027a1"),
    "bfcl": PinnedFile("bfcl", "prmbench_bfcl.json", 111, 3_019_158,
                       "3c13646f14abaaeba619d5ba91d6cc64bcd4223472eea62ab91ca94f588f14a8"),
    "toolsandbox": PinnedFile("toolsandbox", "prmbench_ToolSandbox.json", 130, None, None),
}

# The release's training files (paper Table 3; GTA and ToolTalk have none): JSON Lines, the test
# files' fields. Their digests are not published: pinned like ToolSandbox's test file (commit,
# record count, the first copy used here recorded and later changes refused).
PINNED_TRAIN_FILES: dict[str, PinnedFile] = {
    "bfcl": PinnedFile("bfcl", "prmbench_bfcl_train.json", 243, None, None),
    "toolsandbox": PinnedFile("toolsandbox", "prmbench_ToolSandbox_train.json", 299, None, None),
}


def pinned_file(subset: str, split: str = "test") -> PinnedFile:
    """The pin of one official file: a subset's test file, or its training file."""
    pins = PINNED_TRAIN_FILES if check_choice("split", split, SPLITS) == "train" else PINNED_FILES
    if subset not in pins:
        if split == "train" and subset in PINNED_FILES:
            raise DataError(f"the release has no training file for {subset!r}: training files exist for "
                            f"{', '.join(PINNED_TRAIN_FILES)} (paper Table 3)")
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    return pins[subset]


