"""The evaluator simulator runs end to end at a tiny size (a smoke test, not a measurement):
seeded, each scenario kind reported with its goal, and the same seed gives the same runs."""

from __future__ import annotations

import pytest

from bench import evaluator_sim
from bench.evaluator_sim import SCENARIOS, report, run_all, simulate


def _index(prefix: str) -> int:
    return next(i for i, s in enumerate(SCENARIOS) if s.name.startswith(prefix))


def test_a_run_is_deterministic() -> None:
    index = _index("20% vs 0.1% 5xx")
    assert simulate(index, 3, 7) == simulate(index, 3, 7)


def test_each_kind_of_scenario_is_reported_with_its_goal() -> None:
    chosen = [
        _index("20% vs 0.1% 5xx"),
        _index("A/A, shared outage: 5 s"),
        _index("step 50% of 100 rps, identical"),
    ]
    results = run_all(2, seed=1, workers=1, only=chosen)
    text, _ = report(results, runs=2, seed=1)
    assert "Harmful changes: time to a rollback" in text
    assert "weir:    rolled back" in text and "SPRT:" in text and "Flagger:" in text
    assert "false rollbacks" in text and "95% CI" in text
    assert "step 50% of 100 rps, identical (0.1%): passed" in text and "forecast" in text
    assert "Goals:" in text and "20% vs 0.1% 5xx: caught 2/2" in text


def test_the_command_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    evaluator_sim.main(["--runs", "1", "--workers", "1", "--only", "A/A, independent"])
    out = capsys.readouterr().out
    assert "A/A, independent 0.1% 5xx" in out and "processes" in out


def test_the_wilson_interval() -> None:
    low, high = evaluator_sim.wilson(10, 1000)
    assert low == pytest.approx(0.0054, abs=1e-4) and high == pytest.approx(0.0183, abs=1e-4)
    assert evaluator_sim.wilson(0, 1000)[0] == pytest.approx(0.0, abs=1e-12)


def test_steps_weirs_default_leaves_out_are_shown_but_carry_no_goal() -> None:
    chosen = [_index("step 1% of 100 rps, identical"), _index("step 25% of 100 rps, identical")]
    results = run_all(1, seed=1, workers=1, only=chosen)
    text, _ = report(results, runs=1, seed=1)
    _, goals = text.split("Goals:")
    assert "step 1% of 100 rps, identical (0.1%) (left out of weir's default steps" in text
    assert "step 25% of 100 rps" in goals and "step 1% of" not in goals
