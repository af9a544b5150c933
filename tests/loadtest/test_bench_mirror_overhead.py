"""The mirroring benchmark runs end to end on a real Envoy (a short run, not a measurement)."""

from __future__ import annotations

from bench.mirror_overhead import measure_mirror_overhead, report


def test_mirror_overhead_measures_both_settings_and_envoy_mirrors_only_when_asked() -> None:
    phases = measure_mirror_overhead(rate=100, seconds=0.5, rounds=1)

    assert [p.mirror_percent for p in phases] == [0.0, 100.0]
    for phase in phases:
        assert len(phase.latencies_s) == 50 and phase.wrong == 0
        assert phase.primary == 50
    assert phases[0].mirrored == 0 and phases[1].mirrored == 50
    assert all(phase.envoy_cpu_ns > 0 for phase in phases)  # Envoy's worker did the work
    lines = report(phases, rate=100, seconds=0.5)
    assert any(line.strip().startswith("Envoy's worker CPU per request: ") for line in lines)
    assert lines[-1].startswith("p50 overhead of 100% mirroring: ")
