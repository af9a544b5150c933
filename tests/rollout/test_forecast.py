"""Rollouts that finish: each step's forecast before the start, the honest refusal when steps
cannot pass in time, accepting the risk, and every step -- the last included -- gated on a
verdict."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.model import Outcome, RolloutStarted, RolloutStepped, Slo, apply_event
from controlplane.rollout import Advance, RolloutDriver, Wait, next_action, plan_for
from controlplane.rollout._commands import propose_start
from controlplane.rollout._forecast import forecast_steps
from controlplane.verdict import Traffic, VerdictPolicy, seconds_to_pass
from tests.rollout._world import Clock, begin, judge, rollout_of, verdict, world

HUNDRED = Traffic(requests_per_s=100.0, error_rate=0.001)
SLO = Slo(success_rate=99.9, latency_p99_ms=300)


def _started(
    steps: tuple[float, ...], traffic: Traffic, **options: Any
) -> tuple[Controller, RolloutStarted]:
    c = world(old={"a": 1}, steps=steps, **options)  # one old instance, as the simulator has
    plan = plan_for(c.state.services["web"])
    entry = propose_start(c.state, "web", "v2", plan, actor="ops", traffic=traffic)
    assert isinstance(entry.event, RolloutStarted)
    return c, entry.event


def test_the_forecast_at_the_default_steps_of_a_100_rps_service() -> None:
    _, event = _started((1, 5, 25, 50, 100), HUNDRED, accept_risk=True)
    labels = [(f.label, round(100 * f.share), f.within) for f in event.forecast]
    assert labels == [
        ("1%", 1, False),
        ("5%", 5, False),
        ("25%", 25, True),
        ("50%", 50, True),
        ("100%: a out", 100, True),
    ]
    seconds = [f.seconds or 0.0 for f in event.forecast]
    assert all(f.seconds is not None for f in event.forecast)
    assert seconds[0] > 30 * 60 and 8 * 60 < seconds[1] < 15 * 60
    assert seconds[2] < 10 * 60 and seconds[3] < 10 * 60


def test_a_plan_whose_steps_cannot_pass_in_time_is_refused_with_the_options() -> None:
    c = world(old={"a": 1}, steps=(1, 5, 25, 50, 100))
    plan = plan_for(c.state.services["web"])
    with pytest.raises(Conflict) as refused:
        propose_start(c.state, "web", "v2", plan, actor="ops", traffic=HUNDRED)
    message = refused.value.message
    # step 1 scales the old weights (shares unchanged), so the 1% step is the second
    assert "would take about 50 min to pass step 2 (1%) and about 11 min to pass step 3 (5%)" in (
        message
    )
    assert "more than the 10m a step may take (decide_within)" in message
    assert "a longer step (--decide-within" in message
    assert "bigger steps (--steps 25,50,100)" in message
    assert "--accept-risk" in message
    assert refused.value.field == "decide_within"
    assert c.state.rollouts == {}


def test_more_traffic_or_bigger_steps_need_no_option() -> None:
    _started((1, 5, 25, 50, 100), Traffic(3000.0, 0.001))
    _started((25, 50, 100), HUNDRED)


def test_a_longer_step_is_an_option_too() -> None:
    _started((1, 5, 25, 50, 100), HUNDRED, decide_within="2h")


def test_without_recent_traffic_nothing_is_forecast_or_refused() -> None:
    c = world(old={"a": 1}, steps=(1, 5, 25, 50, 100))
    plan = plan_for(c.state.services["web"])
    entry = propose_start(c.state, "web", "v2", plan, actor="ops")
    assert isinstance(entry.event, RolloutStarted) and entry.event.forecast == ()


def test_a_service_that_never_fails_is_forecast_from_the_absolute_route() -> None:
    clean = Traffic(100.0, 0.0)
    at_25 = seconds_to_pass(clean, 0.25, SLO)
    # half the SLO's allowed 0.1%: about (4.6 + 2.1) / 0.0005 requests, at 25 rps
    assert at_25 is not None and 5 * 60 < at_25 < 15 * 60
    assert seconds_to_pass(Traffic(0.0, 0.0), 0.25, SLO) is None


def test_the_forecast_shrinks_with_traffic_and_share() -> None:
    policy = VerdictPolicy()
    values = [seconds_to_pass(Traffic(rps, 0.001), 0.1, SLO, policy) for rps in (100, 1000)]
    assert values[0] is not None and values[1] is not None and values[1] < values[0]
    shares = [seconds_to_pass(HUNDRED, share, SLO, policy) for share in (0.05, 0.25)]
    assert shares[0] is not None and shares[1] is not None and shares[1] < shares[0]


async def test_the_step_taking_the_last_old_instance_out_waits_for_its_verdict() -> None:
    clock = Clock()
    c = world(old={"a": 1}, steps=(50, 100), bake="0s", clock=clock)
    begin(c)
    driver = RolloutDriver(c, clock=clock)
    await driver.step()  # 50%
    judge(c)
    await driver.step()  # 100%: a out
    rollout = rollout_of(c)
    assert rollout.current is not None and rollout.current.label == "100%: a out"
    action = next_action(c.state, rollout, clock())
    assert isinstance(action, Wait) and "waiting for the evaluator's verdict on" in action.why
    assert judge(c) == 1
    assert isinstance(next_action(c.state, rollout_of(c), clock()), Advance)


async def test_a_failed_last_step_rolls_the_rollout_back() -> None:
    clock = Clock()
    c = world(old={"a": 1}, steps=(50, 100), clock=clock)
    begin(c)
    driver = RolloutDriver(c, clock=clock)
    await driver.step()
    judge(c)
    await driver.step()  # a out
    judge(c, Outcome.FAIL)
    await driver.step()
    rollout = rollout_of(c)
    assert rollout.outcome is not None and rollout.outcome.value == "rolled_back"
    assert c.state.instances["a"].state.value == "live"


async def test_accepting_the_risk_goes_on_and_records_it() -> None:
    clock = Clock()
    c = world(steps=(10, 50, 100), clock=clock, accept_risk=True)
    begin(c)
    driver = RolloutDriver(c, clock=clock)
    await driver.step()
    current = rollout_of(c).current
    assert current is not None
    verdict(c, current.changes[0].seq, Outcome.INCONCLUSIVE)

    [stepped, *_] = await driver.step()

    assert isinstance(stepped.event, RolloutStepped) and stepped.event.stage == 1
    assert (
        "step 1 went on without a verdict, as the plan's accept_risk allows, at this risk: #"
        in (stepped.reason)
    )
    assert "inconclusive by the test" in stepped.reason


async def test_without_accepting_the_risk_an_undecided_step_waits() -> None:
    clock = Clock()
    c = world(steps=(10, 50, 100), clock=clock)
    begin(c)
    await RolloutDriver(c, clock=clock).step()
    current = rollout_of(c).current
    assert current is not None
    verdict(c, current.changes[0].seq, Outcome.INCONCLUSIVE)
    action = next_action(c.state, rollout_of(c), clock())
    assert isinstance(action, Wait) and "--accept-risk" in action.why


def test_forecast_steps_is_pure() -> None:
    c, event = _started((25, 50, 100), HUNDRED)
    started = apply_event(c.state, event, c.state.seq + 1).rollouts[event.rollout_id]
    assert forecast_steps(c.state, started, HUNDRED) == forecast_steps(c.state, started, HUNDRED)


def _defaulted(traffic: Traffic) -> RolloutStarted:
    c = world(old={"a": 1}, steps=None)  # the service file names no steps
    plan = plan_for(c.state.services["web"])
    entry = propose_start(c.state, "web", "v2", plan, actor="ops", traffic=traffic, fit_steps=True)
    assert isinstance(entry.event, RolloutStarted)
    return entry.event


def test_the_default_steps_start_at_the_smallest_the_traffic_judges_in_time() -> None:
    event = _defaulted(HUNDRED)
    assert getattr(event.plan, "steps", None) == (25, 50, 100)
    assert [(f.label, f.within) for f in event.left_out] == [("1%", False), ("5%", False)]
    half = event.plan.decide_within / 2
    assert all(f.seconds is not None and f.seconds <= half for f in event.forecast)


def test_a_busy_service_keeps_every_default_step() -> None:
    event = _defaulted(Traffic(3000.0, 0.001))
    assert getattr(event.plan, "steps", None) == (1, 5, 25, 50, 100) and event.left_out == ()


def test_default_steps_no_cut_can_fit_are_kept_for_the_refusal_to_explain() -> None:
    c = world(old={"a": 1}, steps=None)
    plan = plan_for(c.state.services["web"])
    with pytest.raises(Conflict, match=r"to pass step 2 \(1%\) and.*--accept-risk"):
        propose_start(
            c.state, "web", "v2", plan, actor="ops", traffic=Traffic(0.5, 0.001), fit_steps=True
        )
