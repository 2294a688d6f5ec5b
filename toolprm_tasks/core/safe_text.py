"""Text from data files, results files or a model, made safe for where it is shown.

Names, answers and paths that reach a terminal, a Markdown or HTML report or a plot label are
hostile input: a control character can rewrite the terminal (ESC, OSC sequences), a lone
surrogate cannot be encoded, a newline or a code fence can break a table, and a 200,000-character
name must not cost memory or time. Every destination goes through one function here, and each
works in time linear in the text it keeps.
"""

from __future__ import annotations

import html
import re

# C0 controls but tab and newline, DEL, C1 controls, lone surrogates, and the bidirectional
# overrides and isolates that can make text read in another order than it is stored
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2028\u2029]")
ELLIPSIS = "…"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def elide(text: str, limit: int | None) -> str:
    """At most `limit` characters: a longer text keeps its start and end around an ellipsis."""
    if limit is None or len(text) <= limit:
        return text
    if limit < 3:
        return text[:limit]
    head = (limit - 1) // 2 + (limit - 1) % 2
    tail = limit - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def visible(text: object, limit: int | None = None) -> str:
    """For a terminal or a log: control characters, lone surrogates and bidirectional overrides
    shown as escapes (`\\x1b`), newlines and tabs kept; elided to `limit` characters first."""
    return _UNSAFE.sub(_escape, elide(str(text), limit))


def one_line(text: object, limit: int | None = None) -> str:
    """As `visible`, with line breaks (\\n, \\r, U+2028/9) escaped too: one line for sure."""
    return _UNSAFE_LINE.sub(_escape, elide(str(text), limit))


# ----------------------------------------------------------------------------- destinations
# Each takes the raw text, elides it first (so a 200,000-character name costs what a short one
# does), escapes what its destination would interpret, and works in linear time.

CELL_LIMIT = 1000  # a table cell (Markdown, HTML): a judge label, a path, a run's notes
LABEL_LIMIT = 80  # a plot's tick or legend label: past this, layout time and memory explode
LINE_LIMIT = 4000  # one command line in a code block

# what Markdown (CommonMark with GitHub's tables) would read as markup inside a table cell or a
# line of text: escapes, cell separators, links and images ([ ]), code spans, emphasis and strike,
# raw HTML and entities (< &)
_MD_SPECIAL = re.compile(r"[\\|\[\]`*_~$]")  # $: GitHub renders $...$ as math
_BACKTICKS = re.compile("`+")
# in a JSON document only strings hold non-ASCII: these are written as \\u escapes there
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def md_cell(text: object, limit: int | None = CELL_LIMIT) -> str:
    """For a Markdown table cell or inline text: one line, no markup (a name cannot make a link,
    close a table row or open a code span); `<` and `&` as entities."""
    shown = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), one_line(text, limit))
    return shown.replace("&", "&amp;").replace("<", "&lt;")


def md_code_span(text: object, limit: int | None = LINE_LIMIT) -> str:
    """Inline code (`...`): fenced by more backticks than the text holds in a row."""
    shown = one_line(text, limit)
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(shown)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end when both ends have one: pad so it strips ours
    pad = " " if shown[:1] == "`" or shown[-1:] == "`" or (shown[:1] == shown[-1:] == " " and shown.strip(" ")) else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def md_code_block(lines: list[str], language: str = "", limit: int | None = LINE_LIMIT) -> str:
    """A fenced code block: each line one line for sure (a newline in the text cannot end the
    block early), fenced by more backticks than any line holds in a row (at least three)."""
    shown = [one_line(line, limit) for line in lines]
    longest = max((len(m.group()) for line in shown for m in _BACKTICKS.finditer(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + language, *shown, fence])


def html_text(text: object, limit: int | None = CELL_LIMIT) -> str:
    """For HTML text or an attribute value: one line, `& < > " '` as entities."""
    return html.escape(one_line(text, limit))


def plot_label(text: object, limit: int | None = LABEL_LIMIT) -> str:
    """For a matplotlib label: one line, and `$` escaped (two would start mathtext, which
    fails on most text and then ends the whole plot)."""
    return one_line(text, limit).replace("$", "\\$")


def json_document(text: str) -> str:
    """A JSON document (json.dumps with ensure_ascii=False) with C1 controls, bidirectional
    overrides, line separators and lone surrogates written as \\u escapes: the same values to a
    JSON reader, nothing a terminal would act on when the file is shown. Values are not elided
    (report.json is the complete record)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
