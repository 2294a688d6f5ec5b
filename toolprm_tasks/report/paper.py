"""The paper's published numbers (arXiv 2601.12294): Table 2 and the search-gain fits.

Shown beside our results only for the official data, always marked as reported by the paper.
"""

from __future__ import annotations

PAPER = "ToolPRMBench paper (arXiv 2601.12294)"

# Table 2, accuracy in percent, in the paper's order: (GTA, ToolTalk, BFCL, ToolSandbox, AVG)
TABLE2: dict[str, tuple[float, float, float, float, float]] = {
    "ToolPRM-GRPO (Qwen3-4B)": (84.7, 73.3, 86.4, 70.0, 78.6),
    "Claude-4.5-haiku": (91.5, 93.0, 45.9, 70.0, 75.1),
    "GPT-5": (87.3, 82.5, 44.1, 83.7, 74.4),
    "Gemini-2.5-flash": (90.1, 86.7, 40.8, 75.3, 73.2),
    "Qwen3-14B": (74.6, 80.1, 35.2, 62.1, 63.0),
    "ToolPRM-CoT": (55.1, 56.9, 57.7, 83.0, 63.2),
    "ToolPRM-Base": (38.1, 65.1, 47.7, 77.7, 57.1),
    "Qwen3-4B": (63.5, 66.2, 30.1, 37.8, 49.4),
    "Math-shepherd (PRM)": (59.3, 33.6, 53.0, 57.7, 50.9),
    "Qwen2.5-Math-7B (PRM)": (29.7, 69.4, 36.9, 67.0, 50.8),
}
TABLE2_SUBSETS: tuple[str, ...] = ("gta", "tooltalk", "bfcl", "toolsandbox")

# Section 5.1, best-of-8 search with each judge as selector: gain = slope * accuracy + intercept
# (both in percent points), fitted over the paper's judges.
SEARCH_FITS: dict[str, tuple[float, float]] = {"gta": (0.19, -9.28), "bfcl": (0.13, -6.70)}


def table2_row(name: str) -> dict[str, float]:
    """One Table 2 row as fractions keyed by subset and "AVG" (our results' unit)."""
    values = TABLE2[name]
    row = {subset: value / 100 for subset, value in zip(TABLE2_SUBSETS, values[:4], strict=True)}
    row["AVG"] = values[4] / 100
    return row


def normalised_name(name: str) -> str:
    """For matching a model to a Table 2 row: case and separators ignored, provider dropped."""
    return "".join(ch for ch in name.rsplit("/", 1)[-1].lower() if ch.isalnum())


def paper_match(model: str) -> str | None:
    """The Table 2 row with exactly this model name (e.g. "Qwen3-4B"), or None."""
    key = normalised_name(model)
    return next((row for row in TABLE2 if normalised_name(row) == key), None)
