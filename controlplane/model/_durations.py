"""Durations as operators write them in service files: 500ms, 2s, 5m, 1h, 30d."""

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from controlplane.model._limits import MAX_DURATION_TEXT

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: object) -> float:
    """Seconds from '2s', '500ms', '30d'; a bare number is seconds."""
    if isinstance(text, bool):
        raise ValueError("a duration such as 2s, 500ms or 30d")
    if isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str) and len(text) > MAX_DURATION_TEXT:
        raise ValueError(f"a duration is at most {MAX_DURATION_TEXT} characters (such as 30d)")
    elif isinstance(text, str) and (match := _PATTERN.fullmatch(text)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"{text!r} is not a duration such as 2s, 500ms or 30d")
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a finite duration")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest text that parses back to exactly `seconds` (the ledger must round-trip)."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            text = f"{int(seconds // size)}{unit}"
            if parse_duration(text) == seconds:
                return text
    millis = f"{seconds * 1000:g}ms"
    if "e" not in millis and parse_duration(millis) == seconds:  # 1000.5 s is 1.0005e+06ms
        return millis
    # Plain decimal digits (the pattern takes no exponent) of the float's shortest repr.
    return f"{Decimal(repr(seconds)):f}s"


def say_duration(seconds: float) -> str:
    """A duration as people read it, rounded: 45 s, 12 min, 3.5 h, 2.0 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    # What the API accepts, so clients and schema-driven fuzzers send real durations.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {
                    "type": "string",
                    "maxLength": MAX_DURATION_TEXT,
                    "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$",
                },
            ],
            "examples": ["500ms", "2s", "30d"],
        },
        mode="validation",
    ),
]
"""Seconds in Python, a readable duration string in YAML, JSON and the ledger."""
