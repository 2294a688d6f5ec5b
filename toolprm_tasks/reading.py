"""The well-posedness check: a blind reading of a seeded sample of a rebuilt set.

A reader sees what a judge sees and nothing more: the history, the tools and the two
candidate actions in a seeded order, labelled Action1 and Action2. They pick the better next
action and give a verdict on the case: `clear` (one is right, the other wrong), `ambiguous`
(one is better, but a careful reader could argue), `both acceptable`, `neither acceptable`.
The key (which candidate is the chosen one, the case's source, error type, relation and tier)
is written apart from the packet and only read when the answers are scored.

    toolprmbench audit DIR --packet OUT                   # OUT/ packet, OUT-key.json beside it
    toolprmbench audit --score-packet OUT --answers A.jsonl
    toolprmbench audit --read-packet OUT --reader MODEL   # any Inspect model reads it, then scored

Answers are JSON Lines, one object per item: `{"item": "R07", "choice": "Action2",
"verdict": "clear", "note": "..."}`. The choice is read with the project's conservative
answer parser (`scorers.core.parse_pairwise_answer`); a missing or unreadable answer counts
as wrong and is reported. Framework-free apart from the model reader.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scorers.answers import answer_text, json_values, walk_objects
from scorers.core import parse_pairwise_answer
from toolprm_tasks.core.cases import error_type_slug
from toolprm_tasks.core.files import write_atomic
from toolprm_tasks.core.render import render_action, render_functions, render_history
from toolprm_tasks.core.tool_calls import spec_properties
from toolprm_tasks.core.trials import seeded_key
from toolprm_tasks.data import DataError, read_records
from toolprm_tasks.data.jsonio import read_json, read_jsonl
from toolprm_tasks.rebuild.difficulty import check_tier, tier_of

VERDICTS: tuple[str, ...] = ("clear", "ambiguous", "both acceptable", "neither acceptable")
LABELS: tuple[str, str] = ("Action1", "Action2")
ERROR_TYPES: tuple[str, ...] = ("wrong_tool", "wrong_params", "should_chat", "should_call")
PACKET_FILE = "packet.jsonl"
PACKET_TEXT = "packet.md"
ANSWERS_TEMPLATE = "answers_template.jsonl"

READER_PROMPT = (
    "You are checking a benchmark case for a judge of tool-using agents. Read the tools, the "
    "conversation so far and two candidate next actions of the assistant. Decide which one is the "
    "better next step, and whether the case is well-posed.\n"
    "## Tools: {tools}\n"
    "## History: {history}\n"
    "## Action1: {action_1}\n"
    "## Action2: {action_2}\n"
    "Verdicts: \"clear\" (one is right and the other wrong), \"ambiguous\" (one is better but a careful "
    "reader could argue for the other), \"both acceptable\", \"neither acceptable\".\n"
    'Answer with JSON only: {{"rationale": <your reasoning>, "chosen action": <"Action1" or "Action2">, '
    '"verdict": <one of the four verdicts>}}'
)


def key_path(packet: Path) -> Path:
    """Where a packet's key lives: beside the packet folder, never inside it (a packet named
    `.` or `out/..` is named by its real folder)."""
    packet = packet.resolve() if packet.name in ("", ".", "..") else packet
    return packet.parent / f"{packet.name}-key.json"


def reader_answers_path(packet: Path) -> Path:
    """Where `--read-packet` writes a model reader's answers by default: beside the key."""
    key = key_path(packet)
    return key.with_name(key.name.removesuffix("-key.json") + "-answers-reader.jsonl")


_KEY_ITEM_FIELDS: dict[str, type | tuple[type, ...]] = {
    "chosen": str, "source": str, "error_type": str, "tier": str}


def load_key(packet: Path) -> dict[str, Any]:
    """A packet's key (`key_path`), its shape checked, and checked to be the key of the packet
    beside it (its `packet_sha256` against `packet.jsonl`, where that is there): a key that
    does not fit is an error naming the file and the field, never a score against the wrong
    answers."""
    path = key_path(packet)
    if not path.is_file():
        raise DataError(f"{path}: no key for the packet {packet} (written beside it by --packet)")
    key = read_json(path)
    if not isinstance(key, dict) or not isinstance(key.get("items"), dict):
        raise ValueError(f"{path}: field 'items': expected an object of item -> answer key")
    for item, truth in key["items"].items():
        if not isinstance(truth, dict):
            raise ValueError(f"{path}: item {item!r}: expected an object")
        for field, kind in _KEY_ITEM_FIELDS.items():
            if not isinstance(truth.get(field), kind):
                raise ValueError(f"{path}: item {item!r}: field {field!r}: missing or not a string")
        if truth["chosen"] not in LABELS:
            raise ValueError(f"{path}: item {item!r}: field 'chosen': expected one of {', '.join(LABELS)}")
    packet_file = packet / PACKET_FILE
    if packet_file.is_file():
        digest = hashlib.sha256(packet_file.read_bytes()).hexdigest()
        if key.get("packet_sha256") != digest:
            raise ValueError(f"{path}: field 'packet_sha256' does not match {packet_file} (sha256 {digest[:12]}...): "
                             "the key is not this packet's; write the packet again (--packet)")
    return key


def sample(records_by_source: dict[str, list[dict[str, Any]]], per_type: int, seed: int,
           tier: str = "all") -> list[tuple[str, int]]:
    """(source, record index): `per_type` records of each error type of each source, ranked by
    a seeded hash of the source and index (the choice never depends on file order); `tier`:
    only records of that tier (their difficulty field), for a reading of the hard tier alone."""
    check_tier(tier)
    picked = []
    for source in sorted(records_by_source):
        by_type: dict[str, list[int]] = defaultdict(list)
        for index, record in enumerate(records_by_source[source]):
            if tier == "all" or tier_of(record.get("difficulty")) == tier:
                by_type[error_type_slug(record.get("error type"))].append(index)
        for slug in ERROR_TYPES:
            ranked = sorted(by_type.get(slug, []), key=lambda i, s=source: seeded_key(seed, f"read/{s}/{i}"))
            picked += [(source, i) for i in ranked[:per_type]]
    return picked


def _dump_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _render_turn(turn: dict[str, Any]) -> str:
    content = turn.get("content")
    return f"**{turn.get('role', '?')}**: {render_action(content)}"


def _render_tools(functions: Any) -> str:
    lines = []
    for item in functions if isinstance(functions, list) else []:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if isinstance(item, dict):
            params = ", ".join(spec_properties(item.get("parameters")))
            lines.append(f"- `{item.get('name')}({params})`: {item.get('description', '')}")
    return "\n".join(lines) or render_functions(functions)


def write_packet(records_by_source: dict[str, list[dict[str, Any]]], out: Path, per_type: int = 10,
                 seed: int = 0, origin: dict[str, Any] | None = None, tier: str = "all") -> dict[str, Any]:
    """Write a blind reading packet into `out` (items, a readable rendering, an answers
    template) and its key beside it (`key_path`); `tier`: sample that tier's cases only.
    Returns a summary."""
    picked = sample(records_by_source, per_type, seed, tier)
    if not picked:
        raise DataError("no case to sample a reading packet from" if tier == "all"
                        else f"no case of the {tier} tier to sample a reading packet from")
    rng = random.Random(seeded_key(seed, "read/order"))
    rng.shuffle(picked)
    items, key = [], {}
    for number, (source, index) in enumerate(picked, start=1):
        record = records_by_source[source][index]
        item = f"R{number:02d}"
        chosen_first = random.Random(seeded_key(seed, f"read/{source}/{index}/order")).random() < 0.5
        actions = (record["action_chosen"], record["action_rejected"])
        shown = actions if chosen_first else actions[::-1]
        items.append({"item": item, "tools": record.get("functions"), "history": record["history"],
                      LABELS[0]: shown[0], LABELS[1]: shown[1]})
        how = record.get("difficulty") if isinstance(record.get("difficulty"), dict) else {}
        key[item] = {"chosen": LABELS[0] if chosen_first else LABELS[1], "source": source, "record": index,
                     "sample_id": record.get("sample_id"), "step_index": record.get("step_index"),
                     "error_type": error_type_slug(record.get("error type")), "relation": how.get("relation"),
                     "operator": how.get("operator"), "tier": tier_of(how)}
    out.mkdir(parents=True, exist_ok=True)
    packet_bytes = ("\n".join(_dump_line(i) for i in items) + "\n").encode("utf-8")
    # each file whole or not at all; the key, written last, records the packet's digest, so a
    # packet and key of two different writes are found out when the answers are scored
    write_atomic(out / PACKET_FILE, packet_bytes)
    write_atomic(out / ANSWERS_TEMPLATE, "\n".join(_dump_line({"item": i["item"], "choice": None, "verdict": None,
                                                                "note": ""}) for i in items) + "\n")
    text = [f"# Blind reading packet ({len(items)} cases)", "",
            "For each case pick the better next action of the assistant (Action1 or Action2) and a verdict: "
            + ", ".join(f"`{v}`" for v in VERDICTS) + ". Write your answers into a copy of "
            f"`{ANSWERS_TEMPLATE}` (one line per item). Read only what is here.", ""]
    for item in items:
        text += [f"## {item['item']}", "", "### Tools", _render_tools(item["tools"]), "", "### History",
                 *[_render_turn(t) for t in item["history"]], "",
                 f"### Action1\n{render_action(item[LABELS[0]])}", "", f"### Action2\n{render_action(item[LABELS[1]])}", ""]
    write_atomic(out / PACKET_TEXT, "\n".join(text))
    digest = hashlib.sha256(packet_bytes).hexdigest()
    summary = {"items": len(items), "seed": seed, "per_type": per_type, "tier": tier, "packet_sha256": digest,
               "by_source": dict(Counter(k["source"] for k in key.values())),
               "by_tier": dict(Counter(k["tier"] for k in key.values()))}
    write_atomic(key_path(out), json.dumps({**summary, "origin": origin or {}, "items": key}, indent=1,
                                           ensure_ascii=False) + "\n")
    return summary


def parse_verdict(text: Any) -> str | None:
    """One of VERDICTS, written as such (case, spacing, `_` and `-` aside); else None."""
    if not isinstance(text, str):
        return None
    normal = " ".join(re.sub(r"[_\-]", " ", text).casefold().split())
    return normal if normal in VERDICTS else None


def read_answer(text: str | None) -> dict[str, Any]:
    """A reader model's answer: the choice by the conservative parser, the verdict from a
    `verdict` key of a JSON object in it (exactly one of VERDICTS, else unparsed)."""
    parsed = parse_pairwise_answer(text)
    verdicts = {parse_verdict(obj.get("verdict")) for value in json_values(answer_text(text) or "")
                for obj in walk_objects(value) if "verdict" in obj}
    verdicts.discard(None)
    return {"choice": LABELS[parsed.pick - 1] if parsed.pick else None, "parse": parsed.how,
            "verdict": verdicts.pop() if len(verdicts) == 1 else None}


def _jsonl_rows(path: Path) -> list[tuple[int, Any]]:
    """(line number, value) of a JSON Lines file read by the project's strict reader (UTF-8,
    standard JSON, `\n` line ends only: U+2028 inside a string is text), blank lines skipped."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    numbers = [n for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    rows = read_jsonl(path) if numbers else []
    return list(zip(numbers, rows, strict=True))


def load_answers(path: Path) -> dict[str, dict[str, Any]]:
    """item -> answer, from a JSON Lines answers file; a line that is not an object with an
    `item`, or an item answered twice, is an error naming the file and line."""
    answers: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for number, row in _jsonl_rows(path):
        if not isinstance(row, dict) or not isinstance(row.get("item"), str):
            raise ValueError(f"{path}: line {number}: field 'item': expected a string")
        if row["item"] in seen:  # which of two answers counts would be a guess
            raise ValueError(f"{path}: line {number}: field 'item': {row['item']!r} is answered twice "
                             f"(also on line {seen[row['item']]})")
        seen[row["item"]] = number
        choice, verdict = row.get("choice"), row.get("verdict")
        parsed = parse_pairwise_answer(str(choice)) if isinstance(choice, (str, int)) else None
        pick = parsed.pick if parsed else None
        # an unanswered field is null (the template's), and a hedge naming both labels a miss; a value
        # that names no label is a typo to fix, not an answer to drop ("clr" was counted as no verdict)
        if choice is not None and pick is None and (parsed is None or parsed.how == "no_label"):
            raise ValueError(f"{path}: line {number}: field 'choice': {choice!r} is not one of {', '.join(LABELS)}")
        if verdict is not None and parse_verdict(verdict) is None:
            raise ValueError(f"{path}: line {number}: field 'verdict': {verdict!r} is not one of "
                             f"{', '.join(VERDICTS)}")
        answers[row["item"]] = {"choice": LABELS[pick - 1] if pick else None, "verdict": parse_verdict(verdict),
                                "note": row.get("note")}
    return answers


def _group(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    right = sum(r["right"] for r in rows)
    return {"n": len(rows), "acc": round(right / len(rows), 4) if rows else None,
            "verdicts": {v: sum(r["verdict"] == v for r in rows) for v in (*VERDICTS, None)}}


def score(key: dict[str, Any], answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Accuracy (a missing or unreadable choice is wrong) and verdict counts, overall and per
    source, error type, tier and relation; the misses listed with their relation."""
    rows = []
    for item, truth in sorted(key["items"].items()):
        answer = answers.get(item, {})
        rows.append({**truth, "item": item, "answered": answer.get("choice") is not None,
                     "right": answer.get("choice") == truth["chosen"], "verdict": answer.get("verdict"),
                     "note": answer.get("note")})
    report: dict[str, Any] = {"overall": _group(rows), "answered": sum(r["answered"] for r in rows),
                              "unknown_items": sorted(set(answers) - set(key["items"]))}
    for field in ("source", "error_type", "tier", "relation"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[str(row[field])].append(row)
        report[f"by_{field}"] = {name: _group(members) for name, members in sorted(groups.items())}
    clear = report["overall"]["verdicts"]["clear"]
    report["clear_share"] = round(clear / len(rows), 4) if rows else None
    report["misses"] = [{k: r[k] for k in ("item", "source", "error_type", "relation", "tier", "verdict", "note")}
                        for r in rows if not r["right"]]
    return report


def read_packet(packet: Path, reader: Any, answers_out: Path, max_tokens: int = 2048) -> dict[str, dict[str, Any]]:
    """Have an Inspect model read every item (cached per call under `packet/.calls/`) and
    write its answers as JSON Lines; returns them as `load_answers` would."""
    # lazy: rebuild.models imports inspect_ai; only the model reader needs it
    from toolprm_tasks.rebuild.models import ModelCaller

    items = [row for _, row in _jsonl_rows(packet / PACKET_FILE)]
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("item"), str) or not all(k in item for k in LABELS):
            raise ValueError(f"{packet / PACKET_FILE}: item {number}: expected an object with 'item', "
                             f"{LABELS[0]!r} and {LABELS[1]!r}")
    caller = ModelCaller("reader", reader, packet / ".calls", max_tokens)
    prompts = [READER_PROMPT.format(tools=render_functions(i["tools"]), history=render_history(i["history"]),
                                    action_1=render_action(i[LABELS[0]]), action_2=render_action(i[LABELS[1]]))
               for i in items]
    answers = {}
    lines = []
    for item, text in zip(items, caller.generate_all(prompts), strict=True):
        read = read_answer(text)
        answers[item["item"]] = {"choice": read["choice"], "verdict": read["verdict"], "note": read["parse"]}
        lines.append(_dump_line({"item": item["item"], "choice": read["choice"], "verdict": read["verdict"],
                                 "note": f"{caller.name}: {read['parse']}"}))
    answers_out.parent.mkdir(parents=True, exist_ok=True)
    answers_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return answers


def format_score(report: dict[str, Any]) -> str:
    """A plain-text summary of `score`'s report."""

    def line(name: str, group: dict[str, Any]) -> str:
        verdicts = ", ".join(f"{v}: {n}" for v, n in group["verdicts"].items() if n)
        acc = "-" if group["acc"] is None else f"{group['acc']:.1%}"
        return f"  {name:28s} acc {acc:>6s}  n={group['n']:<3d} {verdicts}"

    out = [f"Blind reading: {report['answered']} of {report['overall']['n']} answered; "
           f"clear {report['clear_share']:.1%}" if report["clear_share"] is not None else "Blind reading: empty",
           line("overall", report["overall"])]
    for field in ("source", "error_type", "tier", "relation"):
        out += [line(f"{field} {name}", group) for name, group in report[f"by_{field}"].items()]
    out += [f"  miss {m['item']}: {m['source']} {m['error_type']} ({m['relation']}, {m['tier']}), "
            f"verdict {m['verdict']}" for m in report["misses"]]
    if report["unknown_items"]:  # answers to items the key does not have: shown, never dropped in silence
        out.append(f"  not in the key (not scored): {', '.join(report['unknown_items'])}")
    return "\n".join(out)


def records_of(folder: Path, sources: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Each source's test records of a build folder (`prmbench_rebuilt_<source>.json`)."""
    out = {}
    for source in sources:
        path = folder / f"prmbench_rebuilt_{source}.json"
        if path.is_file():
            records = read_records(path)
            if not isinstance(records, list):
                raise DataError(f"{path}: expected a JSON list of records")
            out[source] = records
    if not out:
        raise DataError(f"{folder}: no prmbench_rebuilt_<source>.json to sample a reading packet from")
    return out
