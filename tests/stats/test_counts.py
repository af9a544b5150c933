"""From samples to ClusterCounts, and from readings to totals that never go back."""

from __future__ import annotations

import math

import pytest

from controlplane.stats import LATENCY_BOUNDS_MS, ClusterCounts
from controlplane.stats._counts import OnDecrease, Reading, Totals, latency_slots

SLOTS = len(LATENCY_BOUNDS_MS) + 1


def slots(**at: int) -> tuple[int, ...]:
    """Latency slots with counts at the slots of the given bounds: slots(b5=3, inf=1)."""
    values = [0] * SLOTS
    for name, count in at.items():
        bound = name.removeprefix("b").replace("_", ".")
        index = SLOTS - 1 if bound == "inf" else LATENCY_BOUNDS_MS.index(float(bound))
        values[index] = count
    return tuple(values)


def counts(requests: int, errors: int, **latency: int) -> ClusterCounts:
    return ClusterCounts(requests, errors, slots(**latency))


def test_envoy_default_buckets_map_one_to_one() -> None:
    cumulative = [(bound, 0.0) for bound in LATENCY_BOUNDS_MS]
    cumulative[0] = (0.5, 2.0)  # two requests took at most 0.5 ms
    cumulative[1:] = [(bound, 2.0) for bound in LATENCY_BOUNDS_MS[1:]]
    cumulative[3:] = [(bound, 7.0) for bound in LATENCY_BOUNDS_MS[3:]]  # five in (5, 10]

    assert latency_slots(cumulative, count=9) == slots(b0_5=2, b10=5, inf=2)


def test_an_inf_bucket_is_the_last_slot_and_count_adds_nothing_more() -> None:
    buckets = [(1.0, 1.0), (math.inf, 4.0)]

    assert latency_slots(buckets, count=4) == slots(b1=1, inf=3)


def test_an_unknown_bound_rounds_latency_up_never_down() -> None:
    # 3 ms lies between Envoy's 1 and 5 ms bounds: those requests count as at most 5 ms.
    assert latency_slots([(3.0, 4.0), (7.0, 6.0)], count=None) == slots(b5=4, b10=2)


def test_bucket_order_does_not_matter() -> None:
    assert latency_slots([(10.0, 5.0), (1.0, 2.0)], count=5) == slots(b1=2, b10=3)


def test_a_reading_sums_classes_counts_5xx_as_errors_and_skips_other_clusters() -> None:
    reading = Reading()
    reading.response_class("web--a", "2", 90)
    reading.response_class("web--a", "4", 6)
    reading.response_class("web--a", "5", 4)
    reading.response_class("web--b", "5xx", 1)  # the class as a stat name spells it
    reading.response_class("web--b", "other", 7)  # not a class: ignored
    reading.response_class("weir_xds", "2", 100)  # not an instance cluster
    reading.bucket("web--a", 25.0, 100)
    reading.histogram_count("web--a", 100)

    assert reading.counts() == {"web--a": counts(100, 4, b25=100), "web--b": counts(1, 1)}


def test_deltas_add_up_per_reporter_and_sum_over_reporters() -> None:
    totals = Totals()
    totals.add("p1", {"web--a": counts(10, 1)})
    totals.add("p1", {"web--a": counts(5, 0), "web--b": counts(2, 2)})
    totals.add("p2", {"web--a": counts(1, 1)})

    assert totals.clusters() == {"web--a": counts(16, 2), "web--b": counts(2, 2)}


def test_a_cumulative_reading_adds_what_it_gained() -> None:
    totals = Totals()
    totals.advance("p1", {"web--a": counts(10, 1, b5=10)}, OnDecrease.RESTARTED)
    totals.advance("p1", {"web--a": counts(25, 3, b5=25)}, OnDecrease.RESTARTED)

    assert totals.clusters() == {"web--a": counts(25, 3, b5=25)}


@pytest.mark.parametrize(
    ("on_decrease", "expected"),
    [
        # One proxy's counters went back: it restarted and counted 4 requests since.
        (OnDecrease.RESTARTED, counts(104, 5)),
        # A fleet-wide sum went back: someone left; nothing is known to be new.
        (OnDecrease.REBASE, counts(100, 1)),
    ],
)
def test_a_reading_that_went_back(on_decrease: OnDecrease, expected: ClusterCounts) -> None:
    totals = Totals()
    totals.advance("p1", {"web--a": counts(100, 1)}, on_decrease)
    totals.advance("p1", {"web--a": counts(4, 4)}, on_decrease)
    assert totals.clusters() == {"web--a": expected}

    totals.advance("p1", {"web--a": counts(10, 4)}, on_decrease)  # counting on from there
    assert totals.clusters() == {"web--a": expected + counts(6, 0)}


def test_a_cluster_missing_from_a_reading_keeps_its_counts() -> None:
    totals = Totals()
    totals.advance("p1", {"web--a": counts(10, 0), "web--b": counts(3, 0)}, OnDecrease.RESTARTED)
    totals.advance("p1", {"web--a": counts(12, 0)}, OnDecrease.RESTARTED)
    totals.advance("p1", {"web--a": counts(12, 0), "web--b": counts(4, 0)}, OnDecrease.RESTARTED)

    assert totals.clusters() == {"web--a": counts(12, 0), "web--b": counts(4, 0)}


def test_a_forgotten_reporter_keeps_its_counts_in_the_sums() -> None:
    totals = Totals()
    totals.advance("p1", {"web--a": counts(10, 1)}, OnDecrease.RESTARTED)
    totals.add("p2", {"web--a": counts(5, 0)})

    totals.forget("p1")

    assert totals.reporters() == {"p2"}
    assert totals.clusters() == {"web--a": counts(15, 1)}
    # Seen again later, it is a new reporter: a restarted proxy, counting from zero.
    totals.advance("p1", {"web--a": counts(2, 0)}, OnDecrease.RESTARTED)
    assert totals.clusters() == {"web--a": counts(17, 1)}
