"""Fixture data in the ToolPRMBench release format, written for the tests.

Covers every record shape the reference describes: string and object actions, null and
absent `functions`, tools inside the system turn (GTA), functions as a string, `error type`
with a space, provenance fields (`task`, `sample_id`, `index`, `test_category`,
`possible_answer`, `milestones_*`, `model_name`, `rationale`).

SCHEMA_VERDICT records, per case id, what the `schema` baseline must conclude, derived by
hand from the specs below: "chosen" (the rejected action violates the spec and the chosen
one does not), "rejected" (the opposite) or "tie" (same number of violations).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BFCL_FUNCTIONS = [
    {"name": "cd", "description": "Change directory.",
     "parameters": {"type": "dict", "properties": {"folder": {"type": "string"}}, "required": ["folder"]}},
    {"name": "mkdir", "description": "Make a directory.",
     "parameters": {"type": "dict", "properties": {"dir_name": {"type": "string"}}, "required": ["dir_name"]}},
    {"name": "sort", "description": "Sort a file.",
     "parameters": {"type": "dict", "properties": {"file_name": {"type": "string"},
                                                   "order": {"type": "string", "enum": ["asc", "desc"]}},
                    "required": ["file_name"]}},
    {"name": "mean", "description": "Mean of numbers.",
     "parameters": {"type": "dict", "properties": {"numbers": {"type": "array", "items": {"type": "float"}}},
                    "required": ["numbers"]}},
]

TOOLTALK_FUNCTIONS = [
    {"name": "AddAlarm", "description": "Set an alarm.",
     "parameters": {"type": "object", "properties": {"session_token": {"type": "string"},
                                                     "time": {"type": "string"}},
                    "required": ["session_token", "time"]}},
    {"name": "SendEmail", "description": "Send an email.",
     "parameters": {"type": "object", "properties": {"to": {"type": "array"}, "subject": {"type": "string"},
                                                     "body": {"type": "string"}},
                    "required": ["to", "subject", "body"]}},
]

GTA_SYSTEM = ("You can use these tools: OCR(image) reads text; Calculator(expression) evaluates "
              "arithmetic; ImageDescription(image) describes an image.")


def _bfcl() -> list[dict[str, Any]]:
    user = {"role": "user", "content": "Go to the 'document' folder and make a folder 'temp'."}
    records = [
        # rejected: unknown parameter -> schema picks chosen
        {"history": [user], "action_chosen": {"name": "cd", "parameters": {"folder": "document"}},
         "action_rejected": {"name": "cd", "parameters": {"path": "document"}},
         "functions": BFCL_FUNCTIONS, "error type": "wrong params", "sample_id": "multi_turn_base_0",
         "test_category": "multi_turn_base", "possible_answer": [["cd(folder='document')"]]},
        # rejected: tool does not exist -> chosen
        {"history": [user, {"role": "assistant", "content": "cd(folder='document')"},
                     {"role": "tool", "content": "{\"current_working_directory\": \"document\"}"}],
         "action_chosen": {"name": "mkdir", "parameters": {"dir_name": "temp"}},
         "action_rejected": {"name": "make_folder", "parameters": {"dir_name": "temp"}},
         "functions": BFCL_FUNCTIONS, "error type": "wrong tool", "sample_id": "multi_turn_base_0",
         "test_category": "multi_turn_base"},
        # both valid calls -> tie
        {"history": [{"role": "user", "content": "Sort report.txt, newest first."}],
         "action_chosen": {"name": "sort", "parameters": {"file_name": "report.txt", "order": "desc"}},
         "action_rejected": {"name": "sort", "parameters": {"file_name": "report.txt", "order": "asc"}},
         "functions": BFCL_FUNCTIONS, "error type": "wrong params", "sample_id": "multi_turn_base_7"},
        # rejected: enum violation -> chosen
        {"history": [{"role": "user", "content": "Sort report.txt, newest first."}],
         "action_chosen": {"name": "sort", "parameters": {"file_name": "report.txt", "order": "desc"}},
         "action_rejected": {"name": "sort", "parameters": {"file_name": "report.txt", "order": "newest"}},
         "functions": BFCL_FUNCTIONS, "error type": "wrong params", "sample_id": "multi_turn_base_7"},
        # chosen is a chat reply, rejected a call missing a required parameter -> chosen
        {"history": [{"role": "user", "content": "What is the mean?"}],
         "action_chosen": "Which numbers should I average?",
         "action_rejected": {"name": "mean", "parameters": {}},
         "functions": BFCL_FUNCTIONS, "error type": "should chat but called a tool",
         "sample_id": "multi_turn_miss_param_3", "model_name": "policy-x"},
        # rejected: wrong type (string instead of array); chosen is a Python call string -> chosen
        {"history": [{"role": "user", "content": "Average 1, 2 and 3."}],
         "action_chosen": "mean(numbers=[1.0, 2.0, 3.0])",
         "action_rejected": {"name": "mean", "parameters": {"numbers": "1, 2, 3"}},
         "functions": BFCL_FUNCTIONS, "sample_id": "multi_turn_base_9"},
    ]
    return records


def _tooltalk() -> list[dict[str, Any]]:
    user = {"role": "user", "content": "Set an alarm for 7am and email Bob that I'll be late."}
    return [
        {"history": [user], "action_chosen": {"name": "AddAlarm", "parameters": {"session_token": "t", "time": "07:00:00"}},
         "action_rejected": "Sure, I have set your alarm.", "functions": TOOLTALK_FUNCTIONS,
         "error type": "should call a tool but chatted", "sample_id": "tt-1"},
        {"history": [user, {"role": "assistant", "content": "AddAlarm(time='07:00:00')"}],
         "action_chosen": {"name": "SendEmail", "parameters": {"to": ["bob@x.com"], "subject": "Late", "body": "I'll be late."}},
         "action_rejected": {"name": "SendEmail", "parameters": {"to": ["bob@x.com"], "subject": "Late"}},
         "functions": TOOLTALK_FUNCTIONS, "error type": "wrong params", "sample_id": "tt-1"},
        # rejected is the longer one and schema-valid: tie for schema
        {"history": [{"role": "user", "content": "Email Ann the agenda."}],
         "action_chosen": {"name": "SendEmail", "parameters": {"to": ["ann@x.com"], "subject": "Agenda", "body": "Attached."}},
         "action_rejected": {"name": "SendEmail", "parameters": {"to": ["ann@y.com"], "subject": "Agenda for the whole week", "body": "Attached, see below."}},
         "functions": TOOLTALK_FUNCTIONS, "error type": "wrong params", "sample_id": "tt-2"},
        # the chosen call violates the spec (missing session_token), the rejected is a chat: rejected
        {"history": [{"role": "user", "content": "Wake me at 6."}],
         "action_chosen": {"name": "AddAlarm", "parameters": {"time": "06:00:00"}},
         "action_rejected": "OK!", "functions": TOOLTALK_FUNCTIONS,
         "error type": "should call a tool but chatted", "sample_id": "tt-3"},
        {"history": [{"role": "user", "content": "Thanks, that's all."}],
         "action_chosen": "You're welcome!", "action_rejected": {"name": "AddAlarm", "parameters": {"session_token": "t", "time": "00:00:00"}},
         "functions": TOOLTALK_FUNCTIONS, "error type": "should chat but called a tool", "sample_id": "tt-4"},
    ]


def _gta() -> list[dict[str, Any]]:
    system = {"role": "system", "content": GTA_SYSTEM}
    return [
        {"history": [system, {"role": "user", "content": "What is the total price on the receipt?"}],
         "action_chosen": {"name": "OCR", "arguments": {"image": "image/receipt.jpg"}},
         "action_rejected": {"name": "ImageDescription", "arguments": {"image": "image/receipt.jpg"}},
         "functions": None, "error type": "wrong tool", "task": "gta-17", "rationale": "text is needed"},
        {"history": [system, {"role": "user", "content": "What is the total price on the receipt?"},
                     {"role": "assistant", "content": {"name": "OCR", "arguments": {"image": "image/receipt.jpg"}}},
                     {"role": "tool", "content": "Milk 2.50\nBread 3.10"}],
         "action_chosen": {"name": "Calculator", "arguments": {"expression": "2.50+3.10"}},
         "action_rejected": "The total is 5.50.", "error type": "should call a tool but chatted", "task": "gta-17"},
        {"history": [system, {"role": "user", "content": "Describe the picture, à la française."}],
         "action_chosen": {"name": "ImageDescription", "arguments": {"image": "image/1.png"}},
         "action_rejected": {"name": "OCR", "arguments": {"image": "image/1.png"}},
         "error type": "wrong tool", "task": "gta-40"},
        {"history": [system, {"role": "user", "content": "How many apples?"}],
         "action_chosen": "There are 3 apples.", "action_rejected": {"name": "Calculator", "arguments": {"expression": "3"}},
         "functions": None, "error type": "should chat but called a tool", "task": "gta-41"},
    ]


def _toolsandbox() -> list[dict[str, Any]]:
    functions = json.dumps([{"name": "send_message", "parameters": {"type": "object",
                             "properties": {"recipient": {"type": "string"}, "content": {"type": "string"}},
                             "required": ["recipient", "content"]}}])
    return [
        {"history": [{"role": "user", "content": "Text Mom I'm home."}],
         "action_chosen": {"name": "send_message", "parameters": {"recipient": "Mom", "content": "I'm home."}},
         "action_rejected": {"name": "send_message", "parameters": {"recipient": "Mom"}},
         "functions": functions, "error type": "wrong params", "index": 0, "milestones_0": ["sent"]},
        {"history": [{"role": "user", "content": "Text Dad hi."}],
         "action_chosen": {"name": "send_message", "parameters": {"recipient": "Dad", "content": "hi"}},
         "action_rejected": "Done!", "functions": functions, "error type": "should call a tool but chatted", "index": 1},
        {"history": [{"role": "user", "content": "Hello"}],
         "action_chosen": "Hi! How can I help?", "action_rejected": {"name": "send_message", "parameters": {"recipient": "?", "content": "Hello"}},
         "functions": functions, "error type": "should chat but called a tool", "index": 2},
    ]


SCHEMA_VERDICT = {
    "bfcl-0000": "chosen", "bfcl-0001": "chosen", "bfcl-0002": "tie", "bfcl-0003": "chosen",
    "bfcl-0004": "chosen", "bfcl-0005": "chosen",
    "tooltalk-0000": "tie", "tooltalk-0001": "chosen", "tooltalk-0002": "tie", "tooltalk-0003": "rejected",
    "tooltalk-0004": "tie",
    "gta-0000": "tie", "gta-0001": "tie", "gta-0002": "tie", "gta-0003": "tie",
    "toolsandbox-0000": "chosen", "toolsandbox-0001": "tie", "toolsandbox-0002": "tie",
}

RECORDS = {"gta": _gta, "tooltalk": _tooltalk, "bfcl": _bfcl, "toolsandbox": _toolsandbox}
FILENAMES = {"gta": "prmbench_GTA.json", "tooltalk": "prmbench_tooltalk.json",
             "bfcl": "prmbench_bfcl.json", "toolsandbox": "prmbench_ToolSandbox.json"}


def write_release_files(directory: Path) -> dict[str, int]:
    """Write the four fixture files; return the number of cases per subset."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for subset, make in RECORDS.items():
        records = make()
        (directory / FILENAMES[subset]).write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        counts[subset] = len(records)
    return counts
