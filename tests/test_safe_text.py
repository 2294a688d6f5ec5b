"""The one escape for text shown to people (toolprm_tasks.core.safe_text)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from toolprm_tasks.core.safe_text import elide, one_line, visible


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


# ----------------------------------------------------------------------------- destinations
# Each escape is checked against a real reader of its destination: markdown-it (CommonMark with
# GitHub's tables, every link destination allowed so that a link made by the text is seen),
# Python's HTML parser, matplotlib and the JSON reader.

_MARKUP = st.lists(st.sampled_from(list("ab |\\[]()<>&`*_~!#$:-\n\r\t\x1b\x00\u202e\x85") + ["javascript:", "```"]),
                  max_size=30).map("".join)


def _markdown(text: str) -> list:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    md.validateLink = lambda url: True
    tokens = []
    for token in md.parse(text):
        tokens.append(token)
        tokens.extend(token.children or [])
    return tokens


@given(st.one_of(_MARKUP, st.text(max_size=40)))
def test_a_markdown_cell_shows_its_text_and_makes_no_markup(text):
    from toolprm_tasks.core.safe_text import md_cell

    tokens = _markdown(f"| head |\n|---|\n| {md_cell(text)} |\n")
    assert [t.type for t in tokens].count("tr_open") == 2  # the header and one row, whatever the text
    assert not [t for t in tokens if t.type not in ("table_open", "thead_open", "tr_open", "th_open", "inline", "text",
                                                    "th_close", "tr_close", "thead_close", "tbody_open", "td_open",
                                                    "td_close", "tbody_close", "table_close")]
    shown = "".join(t.content for t in tokens if t.type == "text")
    assert shown.replace("head", "", 1).strip() == one_line(text).strip()


@given(st.lists(st.one_of(_MARKUP, st.text(max_size=30)), min_size=1, max_size=4))
def test_a_markdown_code_block_holds_its_lines_and_ends_where_it_should(lines):
    from toolprm_tasks.core.safe_text import md_code_block

    tokens = _markdown(md_code_block(lines, "bash") + "\n\nafter\n")
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].info == "bash"
    assert fences[0].content == "".join(one_line(line) + "\n" for line in lines)
    assert tokens[-2].content == "after"  # the paragraph after the block is not inside it


@given(st.one_of(_MARKUP, st.text(min_size=1, max_size=30)).filter(lambda t: t.strip(" ")))
def test_a_markdown_code_span_holds_its_text(text):
    from toolprm_tasks.core.safe_text import md_code_span

    spans = [t for t in _markdown(f"run {md_code_span(text)} now") if t.type == "code_inline"]
    assert len(spans) == 1 and spans[0].content == one_line(text)


@given(st.one_of(_MARKUP, st.text(max_size=40)))
def test_html_text_is_text_to_an_html_parser(text):
    from html.parser import HTMLParser

    from toolprm_tasks.core.safe_text import html_text

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.tags, self.data = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

        def handle_data(self, data):
            self.data.append(data)

    parser = Collect()
    parser.feed(f"<td>{html_text(text)}</td>")
    parser.close()
    assert parser.tags == ["td"] and "".join(parser.data) == one_line(text)


def test_plot_labels_are_drawn_literally():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from toolprm_tasks.core.safe_text import LABEL_LIMIT, plot_label

    for text in ("a $_$ b", "$\\foo$", "cost $5 and $6", "x" * 200_000 + "$^$"):
        figure, axes = plt.subplots()
        axes.set_yticks([0], [plot_label(text)])
        figure.canvas.draw()  # mathtext would raise ValueError on "$_$"; a long label would take minutes
        (label,) = axes.get_yticklabels()
        assert not label._preprocess_math(label.get_text())[1]  # not read as math
        assert len(label.get_text().replace("\\$", "$")) <= LABEL_LIMIT
        plt.close(figure)


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children,
                                                                                      max_size=3), max_leaves=8))
def test_a_json_document_reads_back_the_same_with_nothing_a_terminal_acts_on(value):
    import json
    import re

    from toolprm_tasks.core.safe_text import json_document

    document = json_document(json.dumps(value, ensure_ascii=False))
    assert json.loads(document) == value
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2028\u2029]", document)


def test_a_dollar_sign_is_escaped_in_a_markdown_cell() -> None:
    """GitHub renders `$...$` as math: a model named sch$e$ma showed as 'sch' and an italic e."""
    from toolprm_tasks.core.safe_text import md_cell

    assert md_cell("sch$e$ma") == "sch\\$e\\$ma"
