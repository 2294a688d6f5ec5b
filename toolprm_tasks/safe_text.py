"""Text from data files, results files or a model, made safe for where it is shown.

Names, answers and paths that reach a terminal, a Markdown or HTML report or a plot label are
hostile input: a control character can rewrite the terminal (ESC, OSC sequences), a lone
surrogate cannot be encoded, a newline or a code fence can break a table, and a 200,000-character
name must not cost memory or time. Every destination goes through one function here, and each
works in time linear in the text it keeps.
"""

from __future__ import annotations

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
