"""Values named in running text (`rebuild.points.text_values`): what the operators draw
plausible wrong values from. Found by a probe: a GTA user turn of 30,000 word characters took
12 s and 400,000 more than two minutes (the e-mail and file-name alternatives were tried at every
position of a long run); the run's start decides for all of it."""

from __future__ import annotations

from toolprm_tasks.rebuild.points import text_values


def test_entities_of_running_text() -> None:
    text = ("Mail bob.smith+x@mail.example.com the file report-2.pdf by 2024-05-01 10:30, "
            "it costs 15.5 for order A123 at 9:05")
    assert text_values(text) == ["bob.smith+x@mail.example.com", "report-2.pdf", "2024-05-01 10:30", 15.5,
                                 "A123", "9:05"]


def test_a_long_run_is_read_once() -> None:
    """These took minutes before; each is the run's own answer, derived by hand."""
    n = 200_000
    assert text_values("x" * n) == []  # no digit, no '@', no extension: nothing
    assert text_values("x" * n + "@host.com") == ["x" * n + "@host.com"]
    assert text_values("a-" * n + "b.pdf") == ["a-" * n + "b.pdf"]
    assert text_values("x." * n) == []
