"""A small GTA `dataset.json` + `toolmeta.json` in the source's format, written for the tests."""

from __future__ import annotations

import json
from pathlib import Path

TOOLMETA = {
    "OCR": {"name": "OCR", "description": "Recognize text in an image.",
            "inputs": [{"type": "image", "name": "image", "description": "the image path", "optional": False}],
            "outputs": [{"type": "text", "name": "text"}]},
    "Calculator": {"name": "Calculator", "description": "Evaluate an arithmetic expression.",
                   "inputs": [{"type": "text", "name": "expression", "description": "e.g. 2+3", "optional": False}],
                   "outputs": [{"type": "text", "name": "result"}]},
    "ImageDescription": {"name": "ImageDescription", "description": "Describe an image.",
                         "inputs": [{"type": "image", "name": "image", "description": "the image path"}],
                         "outputs": [{"type": "text", "name": "description"}]},
}


def _call(name: str, arguments: dict | str) -> dict:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


DATASET = {
    "0": {"tools": [{"name": "OCR"}, {"name": "Calculator"}, {"name": "ImageDescription"}],
          "files": [{"type": "image", "path": "image/receipt.jpg"}],
          "dialogs": [
              {"role": "user", "content": "What is the total of the receipt?"},
              {"role": "assistant", "thought": "Read it first.", "tool_calls": [_call("OCR", {"image": "image/receipt.jpg"})]},
              {"role": "tool", "name": "OCR", "content": {"type": "text", "content": "Milk 2.50 Bread 3.10"}},
              {"role": "assistant", "thought": "Add.", "tool_calls": [_call("Calculator", '{"expression": "2.50+3.10"}')]},
              {"role": "tool", "name": "Calculator", "content": {"type": "text", "content": "5.6"}},
              {"role": "assistant", "content": "The total is 5.60."}],
          "gt_answer": {"whitelist": [["5.6"]]}},
    "1": {"tools": [{"name": "ImageDescription"}, {"name": "OCR"}],
          "files": [{"type": "image", "path": "image/cat.png"}],
          "dialogs": [
              {"role": "user", "content": "What animal is in 'image/cat.png'?"},
              {"role": "assistant", "tool_calls": [_call("ImageDescription", {"image": "image/cat.png"})]},
              {"role": "tool", "name": "ImageDescription", "content": "A cat on a sofa."},
              {"role": "assistant", "content": "A cat."}],
          "gt_answer": {"whitelist": [["cat"]]}},
    "2": {"tools": [{"name": "Calculator"}], "files": [],
          "dialogs": [
              {"role": "user", "content": "What is 12 times 7?"},
              {"role": "assistant", "tool_calls": [_call("Calculator", {"expression": "12*7"})]},
              {"role": "tool", "name": "Calculator", "content": "84"},
              {"role": "assistant", "content": "84"}],
          "gt_answer": {"whitelist": [["84"]]}},
}


def write_gta(directory: Path, with_toolmeta: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dataset.json").write_text(json.dumps(DATASET), encoding="utf-8")
    if with_toolmeta:
        (directory / "toolmeta.json").write_text(json.dumps(TOOLMETA), encoding="utf-8")
    return directory / "dataset.json"
