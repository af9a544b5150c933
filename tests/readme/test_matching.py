"""How the tour's test reads the README: commands, their outputs, and `…` as a wildcard."""

from __future__ import annotations

from tests.readme._tour import matches, tour_steps


def test_commands_and_outputs_are_read_from_the_console_block() -> None:
    readme = (
        "intro\n<!-- tour:begin -->\n```console\n$ a # note\nout 1\n…\n$ b\n```\n<!-- tour:end -->"
    )
    steps = tour_steps(readme)
    assert [(s.command, s.expected) for s in steps] == [("a # note", ["out 1", "…"]), ("b", [])]


def test_an_ellipsis_stands_for_text_in_a_line_or_for_lines() -> None:
    assert matches(["applied (ledger entry …)"], ["applied (ledger entry 7)"])
    assert not matches(["applied (ledger entry …)"], ["refused"])
    assert matches(["…", "last"], ["a", "b", "last"])
    assert matches(["first", "…"], ["first"])
    assert not matches(["first"], ["first", "extra"])
    assert matches(["x …", "…", "y"], ["x 1", "y"])
