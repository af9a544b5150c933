"""Recent per-instance counts: one sample per resolution step plus the newest, bounded."""

from __future__ import annotations

import pytest

from controlplane.evaluator import RecentCounts
from controlplane.stats import ClusterCounts


def counts(requests: int) -> ClusterCounts:
    return ClusterCounts(requests=requests)


def test_keeps_the_first_sample_of_each_step_and_the_newest() -> None:
    recent = RecentCounts(resolution_s=2.0, window_s=60.0)
    for second in range(7):  # 100.0 .. 106.0, one scrape a second
        recent.add(100.0 + second, {"a": counts(10 * second)})

    kept = [(s.at, s.counts.requests) for s in recent.samples("a")]
    assert kept == [(100.0, 0), (102.0, 20), (104.0, 40), (106.0, 60)]
    recent.add(106.5, {"a": counts(65)})
    assert [s.at for s in recent.samples("a")] == [100.0, 102.0, 104.0, 106.0, 106.5]


def test_memory_is_bounded_by_the_window() -> None:
    recent = RecentCounts(resolution_s=1.0, window_s=10.0)
    for second in range(1000):
        recent.add(float(second), {"a": counts(second)})

    samples = recent.samples("a")
    assert len(samples) <= 12
    assert samples[-1].at == 999.0 and samples[0].at >= 999.0 - 11
    assert [s.at for s in recent.samples("a", since=995.0)] == [995.0, 996.0, 997.0, 998.0, 999.0]


def test_keys_left_out_of_a_scrape_are_forgotten() -> None:
    recent = RecentCounts()
    recent.add(1.0, {"a": counts(1), "b": counts(1)})
    recent.add(2.0, {"a": counts(2)})

    assert recent.keys() == {"a"}
    assert recent.samples("b") == []


def test_a_resolution_beyond_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="resolution_s"):
        RecentCounts(resolution_s=10.0, window_s=5.0)
