"""The warm-up benchmark runs end to end at a tiny size against a real Envoy (a smoke test)."""

from __future__ import annotations

from bench.warmup import measure, report


def test_a_new_instance_is_timed_second_by_second_beside_the_warm_one() -> None:
    [round_] = measure(rounds=1, rate=100, seconds=2)

    assert round_.first_answer_s is not None and round_.first_answer_s < 2
    assert set(round_.ratios) <= {0, 1} and round_.ratios
    assert all(ratio > 0 for ratio in round_.ratios.values())
    lines = report([round_])
    assert lines[0].startswith("first answer after the activation, per round: ")
    assert any(line.startswith("second 0: new instance's p90 / warm instance's") for line in lines)
