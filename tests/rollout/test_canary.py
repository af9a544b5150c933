"""A canary driven to its end, rolled back by a failing verdict, and aborted: against a real
controller and ledger, with the evaluator's verdicts appended by the test."""

from __future__ import annotations

from controlplane.model import Outcome, RolloutOutcome, RolloutStepped
from controlplane.rollout import RolloutDriver, abort
from tests.rollout._world import (
    Clock,
    begin,
    drive,
    entries_of,
    judge,
    rollout_changes,
    rollout_of,
    world,
)


async def test_a_canary_with_steps_10_50_100_completes_one_gated_step_at_a_time() -> None:
    c = world()
    driver = RolloutDriver(c, clock=Clock())
    begin(c)

    assert [e.seq for e in await driver.step()] == [8, 9]  # step 1 and its change, one batch
    assert await driver.step() == []  # held for the verdict on change 9
    judge(c)
    await driver.step()
    current = rollout_of(c).current
    assert current is not None and current.label == "50%"
    await drive(driver, c)

    assert rollout_changes(c) == [
        ("c", "inactive", "live weight 1"),  # 1 / (6 + 3 + 1) = 10%
        ("c", "live weight 1", "live weight 9"),  # 9 / 18 = 50%
        ("a", "live weight 6", "inactive"),  # at 100%: the old ones out, one at a time
        ("b", "live weight 3", "inactive"),
        ("a", "inactive", "retired"),  # retired after the grace period (0 here)
        ("b", "inactive", "retired"),
    ]
    assert rollout_of(c).outcome is RolloutOutcome.COMPLETED
    assert [i.instance.id for i in c.state.live_of("web")] == ["c"]
    labels = [e.event.label for e in entries_of(c) if isinstance(e.event, RolloutStepped)]
    assert labels == ["10%", "50%", "100%: a out", "100%: b out"]
    assert {e.actor for e in entries_of(c)[1:]} == {"rollout"}
    assert all("rollout web/1" in e.reason for e in entries_of(c)[1:])


async def test_each_step_is_held_at_least_its_bake() -> None:
    clock = Clock()
    c = world(bake="60s", clock=clock)
    driver = RolloutDriver(c, clock=clock)
    begin(c)
    await driver.step()
    judge(c)

    clock.advance(59)
    assert await driver.step() == []
    clock.advance(1)
    assert len(await driver.step()) == 2


async def test_a_fail_verdict_in_step_1_returns_every_touched_instance_in_reverse_order() -> None:
    c = world(new=("c", "d"))
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await driver.step()  # two new instances of weight >= 1 beside 9 would be 18%: scale first
    await driver.step()  # 10%: c and d live together, the share split between them
    assert rollout_changes(c) == [
        ("a", "live weight 6", "live weight 60"),
        ("b", "live weight 3", "live weight 30"),
        ("c", "inactive", "live weight 5"),
        ("d", "inactive", "live weight 5"),
    ]

    judge(c, Outcome.FAIL, instance="c")  # the evaluator deactivates c itself
    await driver.step()

    assert rollout_of(c).outcome is RolloutOutcome.ROLLED_BACK
    assert rollout_changes(c)[4:] == [
        ("d", "live weight 5", "inactive"),
        ("b", "live weight 30", "live weight 3"),
        ("a", "live weight 60", "live weight 6"),
    ]
    assert {i.instance.id: i.activation.describe() for i in c.state.instances_of("web")} == {
        "a": "live weight 6",
        "b": "live weight 3",
        "c": "inactive",
        "d": "inactive",
    }
    finished = entries_of(c)[-4]
    assert finished.actor == "rollout"
    assert "rolled back" in finished.reason and "change #13 of c failed" in finished.reason


async def test_abort_after_old_instances_went_out_puts_every_one_back_newest_first() -> None:
    clock = Clock()
    c = world(steps=(50, 100), bake="1m", clock=clock)
    driver = RolloutDriver(c, clock=clock)
    begin(c)
    await driver.step()
    judge(c)
    clock.advance(60)
    await driver.step()  # a out
    judge(c)  # every step is judged, those taking old instances out too
    clock.advance(60)
    await driver.step()  # b out: c alone serves

    entries = abort(c, "web", actor="bob", reason="customers complain")

    assert [(e.actor, getattr(e.event, "instance_id", None)) for e in entries] == [
        ("bob", None),
        ("rollout", "b"),
        ("rollout", "a"),
        ("rollout", "c"),
    ]
    assert rollout_of(c).outcome is RolloutOutcome.ABORTED
    assert "aborted by bob: customers complain" in entries[0].reason
    assert all("rollback of rollout web/1" in e.reason for e in entries[1:])
    assert {i.instance.id: i.activation.describe() for i in c.state.instances_of("web")} == {
        "a": "live weight 6",
        "b": "live weight 3",
        "c": "inactive",
    }
    assert await driver.step() == []  # nothing left to drive
