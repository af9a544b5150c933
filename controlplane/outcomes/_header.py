"""The outcome header an instance puts on each answer: `order=1; revenue=12.50`.

Keys are lower-case names (`[a-z][a-z0-9_]*`, at most 32 characters), values finite numbers of
at most 1e9 in magnitude; pairs are separated by `;` or `,`. A header longer than MAX_HEADER
characters, with more than MAX_PAIRS pairs or any pair that does not read is malformed: the
request counts as one without any event (an instance that cannot report its outcomes is not
taken at its word), and the malformed ones are counted apart.
"""

from __future__ import annotations

import math
import re

MAX_HEADER = 256
MAX_PAIRS = 8
MAX_VALUE = 1e9
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SEPARATORS = re.compile(r"[;,]")


class Malformed(ValueError):
    """An outcome header weir does not read."""


def parse_outcome(text: str) -> dict[str, float]:
    """The pairs of one header value; '' or '-' (no header) is no pair. Raises Malformed."""
    text = text.strip()
    if not text or text == "-":
        return {}
    if len(text) > MAX_HEADER:
        raise Malformed(f"longer than {MAX_HEADER} characters")
    pairs = [p for p in _SEPARATORS.split(text) if p.strip()]
    if len(pairs) > MAX_PAIRS:
        raise Malformed(f"more than {MAX_PAIRS} pairs")
    values: dict[str, float] = {}
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        key = key.strip()
        if not equals or not _KEY.fullmatch(key):
            raise Malformed(f"{pair.strip()[:40]!r} is not key=number")
        try:
            value = float(raw.strip())
        except ValueError:
            raise Malformed(f"{pair.strip()[:40]!r} is not key=number") from None
        if not math.isfinite(value) or abs(value) > MAX_VALUE:
            raise Malformed(f"{key}: {raw.strip()[:20]!r} is not a finite number within 1e9")
        values[key] = value
    return values
