"""Property: every duration a service file may hold is written so that it reads back exactly
(the ledger stores durations as text, and a restarted weir must fold to the same state)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from controlplane.model import format_duration, parse_duration


@given(st.floats(min_value=0, allow_infinity=False))
@example(1000.5)  # was "1.0005e+06ms", which no parser reads: the API answered 500
@example(1e-7)
@example(1e300)
@example(5e-324)
def test_a_duration_is_written_as_text_that_reads_back_exactly(seconds: float) -> None:
    text = format_duration(seconds)

    assert parse_duration(text) == seconds
    assert "e" not in text.removesuffix("ms")
