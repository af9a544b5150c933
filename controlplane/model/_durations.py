"""Durations as operators write them in service files: 500ms, 2s, 5m, 1h, 30d."""

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from controlplane.units import MAX_DURATION_TEXT, format_duration, parse_duration, say_duration

__all__ = ["Duration", "format_duration", "parse_duration", "say_duration"]


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
