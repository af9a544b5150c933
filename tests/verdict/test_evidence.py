"""The e-processes: what they say on fixed counts, and that under H0 they rarely ever cross
1/alpha however often they are read (Ville's inequality, checked by seeded simulation)."""

from __future__ import annotations

import math
import random

import pytest

from controlplane.verdict import MAX_E_VALUE, rate_e_value, share_e_value
from controlplane.verdict._evidence import ABOVE, BELOW
from tests.verdict._traffic import Binomial

ALPHA = 0.01


def test_no_events_is_no_evidence() -> None:
    assert share_e_value(0, 0, 0.1) == 1.0
    assert rate_e_value(0, 0, 0.001, ABOVE) == 1.0


def test_a_candidate_with_at_most_its_share_is_never_evidence_of_harm() -> None:
    for k in range(0, 11):  # 10 of 100 events is exactly a 10% share
        assert share_e_value(k, 100, 0.1) <= 1.0


def test_more_of_the_events_on_the_candidate_is_more_evidence() -> None:
    values = [share_e_value(k, 40, 0.1) for k in range(4, 41)]
    assert values == sorted(values)
    assert share_e_value(8, 8, 0.1) > 1 / ALPHA  # 8 errors, all the candidate's, at 10% traffic


def test_evidence_is_capped_finite() -> None:
    assert share_e_value(10_000, 10_000, 0.1) == MAX_E_VALUE
    assert share_e_value(3, 3, 0.0) == MAX_E_VALUE  # the candidate had no traffic share at all
    assert rate_e_value(1, 1, 0.0, ABOVE) == MAX_E_VALUE  # any error against "no errors"


def test_rate_evidence_falls_as_the_bound_rises() -> None:
    above = [rate_e_value(10, 1_000, x, ABOVE) for x in (0.001, 0.002, 0.005, 0.01)]
    below = [rate_e_value(10, 10_000, x, BELOW) for x in (0.0015, 0.002, 0.005, 0.01)]
    assert above == sorted(above, reverse=True)
    assert below == sorted(below)
    assert rate_e_value(10, 1_000, 0.01, ABOVE) < 1  # 1% observed is no evidence against 1%


def test_a_rate_ten_times_the_bound_is_found_after_a_few_hundred_requests() -> None:
    assert rate_e_value(10, 1_000, 0.001, ABOVE) > 1 / ALPHA
    assert rate_e_value(1, 1_000, 0.001, ABOVE) < 1


@pytest.mark.parametrize(
    ("error_rate", "candidate_rps", "baseline_rps"),
    [(0.001, 10, 90), (0.2, 10, 90), (0.05, 50, 50), (0.01, 1, 99)],
)
def test_share_test_under_h0_rarely_ever_crosses(
    error_rate: float, candidate_rps: int, baseline_rps: int
) -> None:
    """Both arms fail at the same rate; the candidate's share of requests is estimated from the
    counts, as judge() does. Read every second for ten minutes: at most alpha of runs cross."""
    rng = random.Random(7)
    errors_c, errors_b = Binomial(candidate_rps, error_rate), Binomial(baseline_rps, error_rate)
    runs, crossed = 1_000, 0
    for _ in range(runs):
        n_c = e_c = n_b = e_b = 0
        for _second in range(600):
            n_c, n_b = n_c + candidate_rps, n_b + baseline_rps
            e_c += errors_c(rng)
            e_b += errors_b(rng)
            if share_e_value(e_c, e_c + e_b, n_c / (n_c + n_b)) >= 1 / ALPHA:
                crossed += 1
                break
    assert crossed <= ALPHA * runs


def test_rate_test_at_its_bound_rarely_ever_crosses() -> None:
    """5xx exactly at the SLO's allowed 0.1%, read every second for 20 minutes at 10 rps."""
    rng = random.Random(11)
    errors = Binomial(10, 0.001)
    runs, crossed = 500, 0
    for _ in range(runs):
        n = k = 0
        for _second in range(1_200):
            n += 10
            k += errors(rng)
            if k / n > 0.001 and rate_e_value(k, n, 0.001, ABOVE) >= 1 / ALPHA:
                crossed += 1
                break
    assert crossed <= ALPHA * runs


def test_the_pass_test_rarely_passes_a_candidate_at_its_bound() -> None:
    """The pass test's null -- the rate is at least the bound -- holds with equality."""
    rng = random.Random(13)
    errors = Binomial(100, 0.01)
    runs, crossed = 1_000, 0
    for _ in range(runs):
        n = k = 0
        for _second in range(600):
            n += 100
            k += errors(rng)
            if rate_e_value(k, n, 0.01, BELOW) >= 1 / ALPHA:
                crossed += 1
                break
    assert crossed <= math.floor(ALPHA * runs)
