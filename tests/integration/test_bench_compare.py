"""The comparison benchmark runs end to end on a real Envoy (short steps, not a measurement)."""

from __future__ import annotations

from bench.compare import measure, report


def test_compare_measures_the_comparator_its_baseline_and_the_primary_path() -> None:
    result = measure(
        rates=[100.0], seconds=0.5, rate=100.0, phase_seconds=0.5, rounds=1, warmup_s=0.1
    )

    for steps in (result.weir, result.baseline):
        [step] = steps
        assert step.offered == 50 and step.compared >= 45 and step.cpu_s > 0
    none, mirror, compare = result.phases
    assert (none.setting, mirror.setting, compare.setting) == ("none", "mirror", "compare")
    assert none.compared_count == mirror.compared_count == 0 and compare.compared_count >= 45
    assert len(none.latencies_s) == len(mirror.latencies_s) == len(compare.latencies_s) == 50
    lines = report(result)
    assert any(line.startswith("  one core sustained ") for line in lines)
    assert any(line.startswith("  p50 against no mirror: plain mirror ") for line in lines)
