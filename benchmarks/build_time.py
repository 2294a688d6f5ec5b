"""Build time of the rebuilt data set: full BFCL (800 conversations: 600 test cases) and
ToolTalk (78: 102 test cases), rule sampling with execution checks, both splits and the
manifest's audit; test cases per second. Writes benchmarks/out/build_time.json.

    python benchmarks/build_time.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from benchmarks._common import machine, write_result
    from toolprm_tasks.rebuild.build import build

    result = {"benchmark": "build_time", "machine": machine(), "sources": {}}
    for source in ("bfcl", "tooltalk"):
        times, cases = [], 0
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                cases = build([source], Path(tmp), seed=0)[source]["cases"]
                times.append(time.perf_counter() - start)
        median = statistics.median(times)
        result["sources"][source] = {"cases": cases, "median_s": median, "cases_per_s": cases / median,
                                     "repeats": args.repeats}
    write_result("build_time", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
