"""Quantiles from Envoy's bucketed latency histogram, interpolated within a bucket."""

from __future__ import annotations

import pytest

from controlplane.stats import LATENCY_BOUNDS_MS
from controlplane.verdict import quantile_ms

EMPTY = (0,) * (len(LATENCY_BOUNDS_MS) + 1)


def bucket(index: int, count: int, into: tuple[int, ...] = EMPTY) -> tuple[int, ...]:
    latency = list(into)
    latency[index] += count
    return tuple(latency)


def test_an_empty_histogram_has_no_quantiles() -> None:
    assert quantile_ms(EMPTY, 0.5) is None


def test_quantiles_interpolate_linearly_within_their_bucket() -> None:
    latency = bucket(5, 100)  # all 100 requests took 25-50 ms
    assert quantile_ms(latency, 0.5) == pytest.approx(37.5)
    assert quantile_ms(latency, 0.99) == pytest.approx(49.75)


def test_the_first_bucket_starts_at_zero() -> None:
    assert quantile_ms(bucket(0, 10), 0.5) == pytest.approx(0.25)


def test_a_quantile_in_the_open_last_bucket_reads_as_the_last_bound() -> None:
    latency = bucket(len(LATENCY_BOUNDS_MS), 1, bucket(5, 99))
    assert quantile_ms(latency, 0.995) == LATENCY_BOUNDS_MS[-1]


def test_the_quantile_lands_in_the_bucket_that_holds_its_rank() -> None:
    latency = bucket(7, 10, bucket(5, 90))  # 90 at 25-50 ms, 10 at 100-250 ms
    assert quantile_ms(latency, 0.5) == pytest.approx(25 + 25 * 50 / 90)
    assert quantile_ms(latency, 0.99) == pytest.approx(100 + 150 * 9 / 10)
