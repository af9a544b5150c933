"""Rollouts gated by the real evaluator loop, fed scripted stats: no Envoy, real verdicts."""

from __future__ import annotations

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.model import ActivationState, RolloutOutcome, VerdictRecorded
from controlplane.rollout import RolloutDriver
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge
from tests.rollout._world import Clock, begin, rollout_changes, rollout_of, world

SERVING = (ActivationState.LIVE, ActivationState.SHADOW)


async def run(c: Controller, *, error_rate: dict[str, float], ticks: int = 30) -> None:
    """Each tick: the driver steps, every serving instance takes 100 requests, the evaluator
    judges."""
    source = ScriptedSource()
    evaluator = Evaluator(c, source, judge=rate_judge, extra_failures=extra_failures)
    driver = RolloutDriver(c, clock=Clock())
    for _ in range(ticks):
        await driver.step()
        await evaluator.step()
        for record in c.state.instances_of("web"):
            if record.state in SERVING:
                errors = int(100 * error_rate.get(record.instance.version, 0.0))
                source.serve(record.instance.cluster_name, 100, errors)
        await evaluator.step()
        if c.state.active_rollout("web") is None:
            return


async def test_a_healthy_version_is_rolled_out_step_by_step_on_passing_verdicts() -> None:
    c = world()
    begin(c)

    await run(c, error_rate={"v1": 0.01})

    assert rollout_of(c).outcome is RolloutOutcome.COMPLETED
    assert [i.instance.version for i in c.state.live_of("web")] == ["v2"]
    judged = {
        e.event.change_seq: e.event.verdict.outcome.value
        for e in c.history()
        if isinstance(e.event, VerdictRecorded)
    }
    for stage in rollout_of(c).stages[:2]:  # 10% and 50%: each passed before the next
        assert judged[stage.changes[0].seq] == "pass"


async def test_a_version_returning_30_percent_errors_is_rolled_back_in_its_first_step() -> None:
    c = world()
    begin(c)

    await run(c, error_rate={"v1": 0.01, "v2": 0.3})

    assert rollout_of(c).outcome is RolloutOutcome.ROLLED_BACK
    assert rollout_changes(c) == [("c", "inactive", "live weight 1")]
    assert {i.instance.id for i in c.state.live_of("web")} == {"a", "b"}
    assert [e.actor for e in c.history()[-3:]] == ["evaluator", "evaluator", "rollout"]
