"""The fleet convergence benchmark runs end to end on real Envoys (a few changes, not a
measurement)."""

from __future__ import annotations

from bench.fleet_converge import measure_fleet_convergence, report


def test_fleet_convergence_times_every_change_to_the_last_ack_of_every_envoy() -> None:
    single, fleet = measure_fleet_convergence(2, 3)

    assert (single.proxies, fleet.proxies) == (1, 2)
    for run in (single, fleet):
        assert len(run.all_acked) == len(run.first_acked) == len(run.post) == 3
        assert all(
            0 < first <= last < 30
            for first, last in zip(run.first_acked, run.all_acked, strict=True)
        )
    lines = report(single, fleet, protocol="SotW")
    assert any(line.startswith("2 Envoys/1 Envoy ratio: median ") for line in lines)
