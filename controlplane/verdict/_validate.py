"""What a verdict accepts as counts: whole, finite, non-negative and possible. Anything else is
refused with `InvalidCounts` (an InvalidInput naming the side and the field), never a math error
from deep inside a test."""

from __future__ import annotations

import math

from controlplane.errors import InvalidInput
from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts

MAX_COUNT = 2**53
"""Counts above this are no longer exact in a float: no proxy fleet serves that many."""
SLOTS = len(LATENCY_BOUNDS_MS) + 1


class InvalidCounts(InvalidInput):
    """Counts a verdict cannot be judged on (negative, fractional, NaN, more 5xx than requests,
    a histogram of the wrong shape)."""


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidCounts(f"{what} is {value!r}, not a count", field=what)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidCounts(f"{what} is {value!r}, not a whole number", field=what)
    if value < 0:
        raise InvalidCounts(f"{what} is {value!r}: a count cannot be negative", field=what)
    if value > MAX_COUNT:
        raise InvalidCounts(f"{what} is {value!r}: more than any fleet serves", field=what)
    return int(value)


def checked(counts: ClusterCounts, side: str) -> ClusterCounts:
    """`counts` as whole ints, or InvalidCounts naming `side` ("candidate", "baseline") and the
    field at fault."""
    latency = counts.latency
    if (  # the common case, checked at C speed: sound ints (a float or NaN makes the sum float)
        type(counts.requests) is int
        and type(counts.errors) is int
        and 0 <= counts.errors <= counts.requests <= MAX_COUNT
        and type(latency) is tuple
        and len(latency) == SLOTS
        and type(sum(latency)) is int
        and min(latency) >= 0
        and max(latency) <= MAX_COUNT
    ):
        return counts
    requests = _count(counts.requests, f"{side}.requests")
    errors = _count(counts.errors, f"{side}.errors")
    if errors > requests:
        raise InvalidCounts(
            f"{side}.errors is {errors} of {requests} requests: more 5xx than requests",
            field=f"{side}.errors",
        )
    if not isinstance(latency, tuple) or len(latency) != SLOTS:
        raise InvalidCounts(
            f"{side}.latency must hold {SLOTS} bucket counts, not {latency!r:.80}",
            field=f"{side}.latency",
        )
    slots = tuple(_count(n, f"{side}.latency[{i}]") for i, n in enumerate(latency))
    return ClusterCounts(requests, errors, slots)


def checked_seconds(seconds: float, what: str) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidCounts(f"{what} is {seconds!r}, not a number of seconds", field=what)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidCounts(f"{what} is {seconds!r}: not a finite, non-negative time", field=what)
    return float(seconds)
