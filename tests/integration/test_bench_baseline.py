"""The file-based baseline benchmark runs end to end (a few rounds, not a measurement)."""

from __future__ import annotations

from bench._common import summarize
from bench.file_config_baseline import measure_file_reload


def test_file_reload_switches_traffic_and_times_each_switch() -> None:
    samples = measure_file_reload(4, timeout=10)
    assert len(samples) == 4
    assert all(0 < s < 10 for s in samples)
    summary = summarize(samples)
    assert 0 < summary.median_ms <= summary.p99_ms
