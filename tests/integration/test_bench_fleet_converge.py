"""The fleet convergence benchmark runs end to end on real Envoys (a few changes, not a
measurement), and so does its file-based baseline."""

from __future__ import annotations

from bench.fleet_converge import measure_file_fleet, measure_fleet_convergence, report

TRUNCATION = -0.001
"""Envoy stamps /config_dump's last_updated to the millisecond, truncated."""


def test_fleet_convergence_times_every_change_to_the_last_ack_of_every_envoy() -> None:
    single, fleet = measure_fleet_convergence(2, 3)

    assert (single.proxies, fleet.proxies) == (1, 2)
    for run in (single, fleet):
        assert len(run.all_acked) == len(run.first_acked) == len(run.post) == 3
        assert len(run.all_applied) == 3
        pairs = zip(run.first_acked, run.all_acked, strict=True)
        assert all(0 < first <= last < 30 for first, last in pairs)
        assert all(TRUNCATION <= applied < 30 for applied in run.all_applied)
    file = measure_file_fleet(2, 2)
    assert len(file) == 2 and all(TRUNCATION <= s < 30 for s in file)
    lines = report(single, fleet, file, protocol="SotW")
    assert any(line.startswith("2 Envoys/1 Envoy ratio: median ") for line in lines)
    assert any(line.startswith("weir/file ratio, every Envoy applied: ") for line in lines)
