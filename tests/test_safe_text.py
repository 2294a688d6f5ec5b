"""The one escape for text shown to people (toolprm_tasks.safe_text)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from toolprm_tasks.safe_text import elide, one_line, visible


def test_controls_and_surrogates_become_escapes():
    hostile = "a\x00b\x1b]0;pwned\x07c\ud800d\u202ee\x9bf"
    shown = visible(hostile)
    assert shown == "a\\x00b\\x1b]0;pwned\\x07c\\ud800d\\u202ee\\x9bf"
    shown.encode("utf-8")  # a lone surrogate would raise here


def test_line_breaks_kept_by_visible_escaped_by_one_line():
    assert visible("a\nb\tc") == "a\nb\tc"
    assert one_line("a\nb\rc\u2028d") == "a\\x0ab\\x0dc\\u2028d"


def test_elide_keeps_both_ends_and_the_limit():
    assert elide("abcdefghij", 5) == "ab…ij"
    assert len(elide("x" * 200_000, 80)) == 80
    assert elide("short", 80) == "short"


@given(st.text(), st.integers(min_value=0, max_value=50))
def test_escaped_text_is_printable_and_bounded(text, limit):
    for shown in (visible(text, limit), one_line(text, limit)):
        shown.encode("utf-8")
        assert not any(ord(ch) < 0x20 and ch not in "\n\t" for ch in shown)
    assert "\n" not in one_line(text) and "\r" not in one_line(text)
    assert len(elide(text, limit)) <= limit
