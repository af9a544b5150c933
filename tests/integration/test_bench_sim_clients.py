"""The simulated-clients benchmark runs end to end (a few clients and changes, not a
measurement), in both protocols."""

from __future__ import annotations

import pytest

from bench.sim_clients import measure_sim_clients, report


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_every_simulated_client_gets_each_change_and_its_memory_is_read(delta: bool) -> None:
    run = measure_sim_clients(20, 3, delta=delta)

    assert run.clients == 20
    assert len(run.single) == len(run.slowest) == len(run.p99_client) == 3
    assert all(0 < one < 30 for one in run.single)
    assert all(0 < p99 <= last < 30 for p99, last in zip(run.p99_client, run.slowest, strict=True))
    assert run.rss_single > 0 and run.rss_fleet > 0
    assert all(rss > 0 for rss in run.bare_rss)
    assert all(cpu >= 0 for cpu in run.cpu_per_change)
    lines = report(run, protocol="delta" if delta else "SotW")
    assert any(line.startswith("all 20/one client ratio: median ") for line in lines)
