"""The betting e-processes: what one unit of evidence is worth, and that under the null they
rarely ever cross 1/alpha however often they are read -- with events in clumps too, when they
are bet on per run (seeded simulation)."""

from __future__ import annotations

import math
import random

import pytest

from controlplane.verdict._betting import MAX_LOG_E, STAKES, Paired, Rate

ALPHA = 0.05


def test_no_events_bets_nothing() -> None:
    assert Paired().add(0, 0, 0.1, 1.0, "event").log_wealth == Paired().log_wealth
    assert Paired().add(0, 0, 0.1, 1.0, "run").log_wealth == Paired().log_wealth


def test_events_at_their_expected_share_lose_and_beyond_it_win() -> None:
    share = 0.1
    lost = Paired().add(1, 9, share, 1.0, "interval")
    won = Paired().add(5, 5, share, 1.0, "interval")
    assert lost.e_value == pytest.approx(1.0)  # X = p: every stake breaks even
    assert won.e_value > 1


def test_a_run_is_one_bet_however_many_events_and_seconds() -> None:
    """A clump of 20 on the candidate over three seconds is one piece of evidence: at most
    1/share, the same as a single event."""
    test = Paired()
    for hits in (8, 8, 4):
        test = test.add(hits, 0, 0.1, 1.0, "run")
    assert test.units == 0  # still open
    test = test.add(0, 0, 0.1, 1.0, "run")  # a quiet interval ends it
    assert test.units == 1
    single = Paired().add(1, 0, 0.1, 1.0, "event")
    assert test.e_value == pytest.approx(single.e_value)
    assert test.e_value < 10


def test_a_run_is_cut_after_its_cap_so_constant_events_are_still_judged() -> None:
    test = Paired()
    for _ in range(12):
        test = test.add(2, 0, 0.1, 1.0, "run")
    assert test.units == 2


def test_surges_and_skips() -> None:
    assert Paired().add(50, 0, 0.1, 1.0, "interval").units == 1
    assert Paired().add(50, 0, 0.1, 1.0, "skip").e_value == 1.0


def test_a_hit_the_null_forbids_refutes_it() -> None:
    assert Paired().add(1, 0, 0.0, 1.0, "event").log_e == pytest.approx(MAX_LOG_E)
    assert Rate(above=True).add(1, 10, 0.0, 1.0, True).log_e == pytest.approx(MAX_LOG_E)


def _clumped_share_crossings(runs: int, unit: str, rng: random.Random) -> int:
    """A candidate with 10% of the traffic and exactly its share of clumps (each of 5-20 events
    over 1-3 seconds, one clump every ~20 s on average), judged for 10 minutes."""
    crossed = 0
    for _ in range(runs):
        test = Paired()
        pending_c = pending_b = 0
        for _second in range(600):
            if rng.random() < 0.05:
                size = rng.randint(5, 20)
                if rng.random() < 0.1:
                    pending_c += size
                else:
                    pending_b += size
            spread = rng.randint(1, 3)
            c = min(pending_c, -(-pending_c // spread)) if pending_c else 0
            b = min(pending_b, -(-pending_b // spread)) if pending_b else 0
            pending_c, pending_b = pending_c - c, pending_b - b
            test = test.add(c, b, 0.1, 1.0, unit)  # type: ignore[arg-type]
            if test.e_value >= 1 / ALPHA:
                crossed += 1
                break
    return crossed


def test_clumps_bet_per_run_rarely_cross_under_the_null() -> None:
    rng = random.Random(20260613)
    runs = 200
    crossed = _clumped_share_crossings(runs, "run", rng)
    assert crossed <= math.ceil(ALPHA * runs), crossed


def test_clumps_bet_per_event_cross_far_too_often() -> None:
    """Why runs: the same clumps counted event by event (the old judge) fail harmless
    candidates again and again."""
    rng = random.Random(20260613)
    runs = 200
    crossed = _clumped_share_crossings(runs, "event", rng)
    assert crossed > 5 * ALPHA * runs, crossed


def test_independent_events_per_event_rarely_cross_under_the_null() -> None:
    rng = random.Random(11)
    runs, crossed = 300, 0
    for _ in range(runs):
        test = Paired()
        for _second in range(600):
            events = sum(rng.random() < 0.002 for _ in range(100))
            hits = sum(rng.random() < 0.1 for _ in range(events))
            test = test.add(hits, events - hits, 0.1, 1.0, "event")
            if test.e_value >= 1 / ALPHA:
                crossed += 1
                break
    assert crossed <= math.ceil(ALPHA * runs), crossed


@pytest.mark.parametrize("per_trial", [True, False])
def test_a_rate_at_its_bound_rarely_crosses(per_trial: bool) -> None:
    rng = random.Random(5)
    runs, crossed = 200, 0
    for _ in range(runs):
        test = Rate(above=True)
        for _second in range(300):
            events = sum(rng.random() < 0.01 for _ in range(50))
            test = test.add(events, 50, 0.01, 1.0, per_trial)
            if test.e_value >= 1 / ALPHA:
                crossed += 1
                break
    assert crossed <= math.ceil(ALPHA * runs), crossed


def test_stakes_are_shares_of_wealth() -> None:
    assert all(0 < c < 1 for c in STAKES)
