"""The objective benchmarks run small: the simulator against Wald's SPRT, and the cost of the
outcome header with a real Envoy (the long runs are in bench/README.md)."""

from __future__ import annotations

import re

from bench import objective_sim, outcome_envoy_cost


def test_the_objective_simulator_runs_and_reports_against_the_sprt() -> None:
    results = objective_sim.run_all(runs=5, seed=3, workers=1)
    lines, _ = objective_sim.report(results, runs=5, seed=3)
    text = "\n".join(lines)
    assert re.search(r"-50% conversion.*\n  weir: rolled back \d/5", text), text
    assert "Wald's E[time] 57 s" in text  # 5% vs 2.5%, alpha = beta = 1%, 10 requests/s
    assert "never rolled back: met" in text and "false rollbacks" in text


def test_the_outcome_header_costs_are_measured_and_it_never_reaches_the_client() -> None:
    off, on, leaked = outcome_envoy_cost.measure(rate=100, seconds=1, rounds=1)
    assert not leaked
    assert off.requests == on.requests == 100
    assert all(ns > 0 for ns in off.envoy_ns + on.envoy_ns + on.weir_ns)
    lines = outcome_envoy_cost.report(off, on, leaked)
    assert lines[-1].endswith("never")
