"""The weir switch benchmark runs end to end on a real Envoy (a few rounds, not a measurement)."""

from __future__ import annotations

from bench.weir_switch import measure_weir_switch, report


def test_weir_switch_times_each_switch_made_by_the_cli_and_by_the_api() -> None:
    results = measure_weir_switch(3)

    assert set(results) == {"cli", "api"}
    for switches in results.values():
        assert len(switches.served) == 3
        assert all(s > 0 for s in switches.served)
        assert len(switches.handover) == 3
        assert all(h > 0 for h in switches.handover)
    lines = report(results, [0.002, 0.003, 0.004], protocol="SotW")
    assert any(line.startswith("weir cli (from return)/file median ratio: ") for line in lines)
