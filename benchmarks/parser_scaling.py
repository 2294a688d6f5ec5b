"""How the judge-answer parser's time grows with the answer's length, on degenerate answers.

Linear growth means the time ratio between an answer 8 times longer and the shorter one stays
near 8 (well below 64, which quadratic work would give). Writes benchmarks/out/parser_scaling.json.

    python benchmarks/parser_scaling.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, write_result  # noqa: E402
from scorers.core import parse_pairwise_answer  # noqa: E402

ANSWERS = {
    "deep_brackets": lambda n: '{"a": ' + "[" * n,
    "open_braces": lambda n: "{" * n,
    "nested_keys": lambda n: '{"a":' * (n // 5) + "1" + "}" * (n // 5),
    "unclosed_string": lambda n: '{"x": "' + "{" * n,
    "repeated_label": lambda n: "Action1 " * (n // 8),
    "repeated_cue": lambda n: "Final answer: Action1. " * (n // 23),
    "many_objects": lambda n: '{"chosen action": "Action1"} ' * (n // 29),
    "prose": lambda n: ("The first candidate calls the tool with the wrong file name, so " * (n // 64)),
    # the hedge, question, retraction and approval rules of task version 9-A (one rescanned each
    # sentence's rest per approval: 500,000 characters took 250 s)
    "repeated_approval": lambda n: "Action 1 is also correct " * (n // 25),
    "repeated_question": lambda n: "Final answer: Action1? " * (n // 23),
    "repeated_hedge": lambda n: "If Action 1 " * (n // 12),
    "repeated_retraction": lambda n: "Final answer: Action 1. " + "No wait, " * (n // 9) + "Action 2.",
    # the placed-label and negated-cue rules of task version 10-A (a label alone as the first or last
    # sentence; the first version matched a label, a run of spaces and a word in quadratic time:
    # 80,000 characters took 45 s)
    "label_then_spaces": lambda n: "Action 1" + " " * n + "x",
    "lone_labels": lambda n: "Action 1.\n" * (n // 10),
    "negated_cue": lambda n: "The incorrect answer is Action 1. " * (n // 34),
    "headed_label": lambda n: "### Answer\n" * (n // 11) + "Action 2",
    "conditional_cue": lambda n: "Unless x, Action 1 is correct. " * (n // 32),
    "hedged_label": lambda n: "Maybe Action 1. Action 1 might be correct. " * (n // 43),
    # the preference, conclusion and line-verdict rules of task version 11-A (the first version of
    # the preference rule gave a run of spaces after a label back one by one: "Action 1", 80,000
    # spaces and a word took 48 s)
    "preferred_then_spaces": lambda n: "Action 1 over Action 2" + " " * n + "x",
    "label_spaces_preference": lambda n: "Action 1" + " " * n + "over Action 2 x",
    "repeated_preference": lambda n: "Action 1 rather than Action 2. " * (n // 31),
    "repeated_conclusion": lambda n: "So Action 1. -> Action 2.\n" * (n // 26),
    "verdict_lines": lambda n: "Action 1: correct\n" * (n // 18),
    "taken_back_by_place": lambda n: "Final answer: Action 1. " + "Wait, " * (n // 6) + "the second one.",
}
SIZES = (10_000, 80_000, 640_000)


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    result = {"machine": machine(), "sizes_chars": list(SIZES), "answers": {}}
    for name, make in ANSWERS.items():
        texts = [make(n) for n in SIZES]  # built before timing: only the parse is timed
        seconds = [best_of(lambda text=text: parse_pairwise_answer(text)) for text in texts]
        ratios = [round(b / a, 2) if a > 0 else None for a, b in zip(seconds, seconds[1:], strict=False)]
        result["answers"][name] = {"seconds": [round(s, 5) for s in seconds], "ratio_per_8x_length": ratios}
    worst = max(r for a in result["answers"].values() for r in a["ratio_per_8x_length"] if r is not None)
    result["worst_ratio_per_8x_length"] = worst
    result["linear_means_about"] = 8
    write_result("parser_scaling", result)


if __name__ == "__main__":
    main()
