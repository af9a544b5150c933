"""bench.sink_cost runs end to end on a real Envoy (a small mesh, a few seconds)."""

from __future__ import annotations

import asyncio

from bench.sink_cost import measure_sink_cost, report


def test_all_of_envoys_stats_cost_more_than_the_lean_ones_and_both_are_measured() -> None:
    every, lean = asyncio.run(measure_sink_cost(services=3, instances=2, seconds=2))

    assert every.messages > 0 and lean.messages > 0
    assert every.metrics > 20 * lean.metrics  # Envoy's own stats came too
    assert every.bytes > 10 * lean.bytes
    assert every.cpu_s > 0 and every.full_cpu_s > 0  # as the sink reads, and the baseline
    lines = report(3, 2, every, lean)
    assert lines[3].startswith("  ratio: ")
