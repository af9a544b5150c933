"""How a service's events come, told from their per-interval counts: table-tested."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from controlplane.verdict._dependence import Dependence, Dispersion, dependence_of
from tests.verdict._traffic import Binomial

Stream = Callable[[random.Random, int], tuple[int, int]]
"""(rng, second) -> (events, trials) in that second."""


def independent(rps: int, rate: float) -> Stream:
    draw = Binomial(rps, rate)
    return lambda rng, t: (draw(rng), rps)


def clumped(rps: int, every_s: int, size: int, spread_s: int = 1) -> Stream:
    """`size` events every `every_s` seconds, spread over `spread_s` seconds."""
    return lambda rng, t: ((size // spread_s if t % every_s < spread_s else 0), rps)


def shifted(before: Stream, after: Stream, at: int) -> Stream:
    return lambda rng, t: before(rng, t) if t < at else after(rng, t)


CASES = [
    (
        "0.1% of 100 rps one by one, 10 minutes",
        independent(100, 0.001),
        600,
        Dependence.INDEPENDENT,
    ),
    ("20% of 10 rps one by one, 1 minute", independent(10, 0.2), 60, Dependence.INDEPENDENT),
    ("most requests slower than a low bound", independent(100, 0.75), 30, Dependence.INDEPENDENT),
    ("clumps of 12, one every 2 minutes", clumped(100, 120, 12), 600, Dependence.CLUMPED),
    ("clumps of 12 over 2 s, one a minute", clumped(10, 60, 12, 2), 600, Dependence.CLUMPED),
    ("a single clump of 6", clumped(100, 10_000, 6), 60, Dependence.CLUMPED),
    (
        "a handful of independent events: too few to say",
        independent(10, 0.001),
        600,
        Dependence.UNKNOWN,
    ),
    ("no events at all", independent(100, 0.0), 600, Dependence.UNKNOWN),
    (
        "a shared incident (the rate jumping for 30 s) errs on the safe side",
        shifted(
            independent(100, 0.001),
            shifted(independent(100, 0.5), independent(100, 0.001), 330),
            300,
        ),
        400,
        Dependence.CLUMPED,
    ),
]


@pytest.mark.parametrize(
    ("name", "stream", "seconds", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_dependence(name: str, stream: Stream, seconds: int, expected: Dependence) -> None:
    rng = random.Random(name)
    dispersion = Dispersion()
    for t in range(seconds):
        events, trials = stream(rng, t)
        dispersion = dispersion.add(events, trials, 1.0)
    assert dispersion.dependence is expected, dispersion.index


def test_a_candidate_failing_more_than_its_baseline_is_not_taken_for_clumping() -> None:
    """Each side at its own rate: pooled into one rate, 20% beside 0.1% would look clumped."""
    rng = random.Random(7)
    candidate, baseline = Dispersion(), Dispersion()
    pooled = Dispersion()
    for _ in range(60):
        c, b = Binomial(10, 0.2)(rng), Binomial(90, 0.001)(rng)
        candidate, baseline = candidate.add(c, 10, 1.0), baseline.add(b, 90, 1.0)
        pooled = pooled.add(c + b, 100, 1.0)
    assert dependence_of(candidate, baseline) is Dependence.INDEPENDENT


def test_old_intervals_weigh_less_and_less() -> None:
    clumpy = Dispersion().add(12, 100, 1.0)
    for _ in range(6 * 3600):  # six hours of quiet independent traffic at a higher rate
        clumpy = clumpy.add(1, 100, 1.0)
    assert clumpy.dependence is Dependence.INDEPENDENT
