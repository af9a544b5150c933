"""Recent per-instance counts: one sample per resolution step plus the newest, bounded."""

from __future__ import annotations

import math
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.evaluator import RecentCounts, Sample
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
    assert len(recent._tracks["a"].changes) <= 2 * 12  # changing every scrape: two a step
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


class _Reference:
    """The straightforward keeping (a sample per key per step), as the specification."""

    def __init__(self, resolution_s: float, window_s: float) -> None:
        self.resolution_s = resolution_s
        self.maxlen = math.ceil(window_s / resolution_s) + 1
        self.steps: dict[str, deque[Sample]] = {}
        self.latest: dict[str, Sample] = {}

    def add(self, at: float, counts: dict[str, ClusterCounts]) -> None:
        for key in self.latest.keys() - counts.keys():
            del self.latest[key], self.steps[key]
        for key, value in counts.items():
            steps = self.steps.setdefault(key, deque(maxlen=self.maxlen))
            step = math.floor(at / self.resolution_s)
            if not steps or math.floor(steps[-1].at / self.resolution_s) != step:
                steps.append(Sample(at, value))
            self.latest[key] = Sample(at, value)

    def samples(self, key: str) -> list[Sample]:
        kept = list(self.steps.get(key, ()))
        if key in self.latest and self.latest[key] != kept[-1]:
            kept.append(self.latest[key])
        return kept


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.1, max_value=3.0),
            st.dictionaries(st.sampled_from("abcd"), st.integers(0, 3), max_size=4),
        ),
        max_size=60,
    )
)
def test_the_sparse_keeping_gives_what_a_sample_per_step_would(
    scrapes: list[tuple[float, dict[str, int]]],
) -> None:
    """Only changes are kept, yet every key's series is the one a sample per step gives."""
    recent, reference = RecentCounts(resolution_s=1.0, window_s=8.0), _Reference(1.0, 8.0)
    at = 100.0
    for gap, values in scrapes:
        at += gap
        counts = {key: ClusterCounts(requests=n) for key, n in values.items()}
        recent.add(at, counts)
        reference.add(at, counts)
        for key in "abcd":
            assert recent.samples(key) == reference.samples(key)


def test_an_idle_mesh_keeps_one_sample_per_instance() -> None:
    recent = RecentCounts(resolution_s=1.0, window_s=60.0)
    idle = ClusterCounts()
    for second in range(120):
        recent.add(float(second), {f"i{n}": idle for n in range(100)})
    assert all(len(track.changes) == 1 for track in recent._tracks.values())
    assert len(recent.samples("i7")) == 61


def test_advancing_by_what_moved_keeps_every_other_key_as_it_was() -> None:
    recent = RecentCounts(resolution_s=1.0, window_s=60.0)
    recent.add(100.0, {"a": counts(1), "b": counts(5)})
    recent.advance(101.0, {"a": counts(2)})
    recent.advance(102.0, {})

    assert recent.keys() == {"a", "b"}
    assert [(s.at, s.counts.requests) for s in recent.samples("a")] == [
        (100.0, 1),
        (101.0, 2),
        (102.0, 2),
    ]
    assert [(s.at, s.counts.requests) for s in recent.samples("b")] == [
        (100.0, 5),
        (101.0, 5),
        (102.0, 5),
    ]
