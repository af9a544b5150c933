"""Durations as operators write them: 500ms, 2s, 5m, 1h, 30d."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controlplane.model import Slo, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("30d", 2_592_000.0),
        (" 2 s ", 2.0),
        ("0s", 0.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_parses_what_operators_write(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["2", "2 sec", "2S", "-1s", "1.2.3s", "", "s", "1w", -1, True, None, [2]]
)
def test_refuses_what_is_not_a_duration(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "500ms"), (2.0, "2s"), (90.0, "90s"), (300.0, "5m"), (7200.0, "2h"), (86400.0, "1d")],
)
def test_formats_in_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_a_model_reads_and_writes_readable_durations() -> None:
    slo = Slo(window="7d")  # the validator takes text
    assert slo.window == 7 * 86400
    assert slo.model_dump(mode="json")["window"] == "7d"
    assert Slo.model_validate_json(slo.model_dump_json()) == slo


def test_a_bad_duration_names_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Slo(window="soon")
    assert caught.value.errors()[0]["loc"] == ("window",)
