"""A stand-in for the official data where it cannot be downloaded: the release's case counts and
bytes per case, in the release format (built from the test fixture records, histories padded
with tool observations). Timings on it are representative in size, not in content."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.fixture_data import FILENAMES, RECORDS
from toolprm_tasks.data import pins

# ToolSandbox's size is not published: assume the mean bytes per case of the other three.
_KNOWN = [p for p in pins.PINNED_FILES.values() if p.size]
_MEAN_BYTES = sum(p.size for p in _KNOWN) // sum(p.cases for p in _KNOWN)


def write_synthetic_release(directory: Path, seed: int = 0) -> dict[str, int]:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for subset, pin in pins.PINNED_FILES.items():
        templates = RECORDS[subset]()
        target_bytes = (pin.size // pin.cases) if pin.size else _MEAN_BYTES
        records = []
        for index in range(pin.cases):
            record = json.loads(json.dumps(templates[index % len(templates)]))
            record["sample_id" if subset != "gta" else "task"] = f"{subset}-task-{index // 2}"
            size = len(json.dumps(record))
            while size < target_bytes:
                observation = {"role": "tool", "content": json.dumps(
                    {"result": [rng.randint(0, 10**6) for _ in range(40)], "status": "ok"})}
                record["history"].insert(-1 if len(record["history"]) > 1 else 1, observation)
                size += len(json.dumps(observation)) + 2
            records.append(record)
        (directory / FILENAMES[subset]).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        counts[subset] = len(records)
    return counts
