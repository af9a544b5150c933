"""Partial, blue-green and shadow rollouts, each to its end and each rolled back."""

from __future__ import annotations

from controlplane.model import Outcome, RolloutOutcome, State
from controlplane.rollout import RolloutDriver
from tests.rollout._world import Clock, begin, drive, judge, rollout_changes, rollout_of, world


def activations(state: State) -> dict[str, str]:
    return {i.instance.id: i.activation.describe() for i in state.instances_of("web")}


async def test_partial_replaces_old_instances_one_at_a_time() -> None:
    c = world(new=("c", "d"))
    begin(c, strategy="partial")
    await drive(RolloutDriver(c, clock=Clock()), c)

    assert rollout_changes(c) == [
        ("c", "inactive", "live weight 6"),
        ("a", "live weight 6", "inactive"),
        ("d", "inactive", "live weight 3"),
        ("b", "live weight 3", "inactive"),
        ("a", "inactive", "retired"),
        ("b", "inactive", "retired"),
    ]
    assert rollout_of(c).outcome is RolloutOutcome.COMPLETED


async def test_a_failing_partial_puts_back_what_it_replaced_newest_first() -> None:
    c = world(new=("c", "d"))
    driver = RolloutDriver(c, clock=Clock())
    begin(c, strategy="partial")
    for _ in range(3):  # c live (passes), a out, d live
        if not await driver.step():
            judge(c)
            await driver.step()
    judge(c, Outcome.FAIL)  # d fails; the evaluator takes it out
    await driver.step()

    assert rollout_of(c).outcome is RolloutOutcome.ROLLED_BACK
    assert rollout_changes(c)[3:] == [
        ("a", "inactive", "live weight 6"),
        ("c", "live weight 6", "inactive"),
    ]
    assert activations(c.state) == {
        "a": "live weight 6",
        "b": "live weight 3",
        "c": "inactive",
        "d": "inactive",
    }


async def test_blue_green_switches_in_one_batch_and_one_push_then_retires_blue_after_grace() -> (
    None
):
    clock = Clock()
    c = world(new=("c", "d"), grace="10m", clock=clock)
    pushes: list[State] = []
    c.subscribe(pushes.append)  # the xDS server hears of each batch once: one route push
    driver = RolloutDriver(c, clock=clock)
    begin(c, strategy="blue-green")

    switch = await driver.step()

    assert len(pushes) == 2  # the start, then the switch
    assert [e.event.model_dump().get("instance_id") for e in switch] == [None, "c", "d", "a", "b"]
    assert activations(pushes[-1]) == {
        "a": "inactive",
        "b": "inactive",
        "c": "live weight 6",
        "d": "live weight 3",
    }
    judge(c)
    await driver.step()  # the grace period: blue warm and inactive, for an instant rollback
    clock.advance(599)
    assert await driver.step() == []
    clock.advance(1)
    await driver.step()
    assert activations(c.state) == {
        "a": "retired",
        "b": "retired",
        "c": "live weight 6",
        "d": "live weight 3",
    }


async def test_a_failing_green_switches_back_to_blue() -> None:
    c = world(new=("c", "d"))
    driver = RolloutDriver(c, clock=Clock())
    begin(c, strategy="blue-green")
    await driver.step()
    judge(c, Outcome.FAIL, instance="d")
    await driver.step()

    assert rollout_of(c).outcome is RolloutOutcome.ROLLED_BACK
    assert activations(c.state) == {
        "a": "live weight 6",
        "b": "live weight 3",
        "c": "inactive",
        "d": "inactive",
    }


async def test_blue_green_verified_in_shadow_first() -> None:
    c = world()
    begin(c, strategy="blue-green", verify_in_shadow=True, mirror_percent=50)
    await drive(RolloutDriver(c, clock=Clock()), c)

    assert rollout_changes(c)[:2] == [
        ("c", "inactive", "shadow 50%"),
        ("c", "shadow 50%", "live weight 9"),
    ]


async def test_shadow_then_canary_completes() -> None:
    c = world()
    begin(c, strategy="shadow", mirror_percent=25)
    await drive(RolloutDriver(c, clock=Clock()), c)

    assert rollout_changes(c)[:3] == [
        ("c", "inactive", "shadow 25%"),
        ("c", "shadow 25%", "live weight 1"),
        ("c", "live weight 1", "live weight 9"),
    ]
    assert rollout_of(c).outcome is RolloutOutcome.COMPLETED


async def test_a_failing_shadow_ends_the_rollout_before_any_user_saw_it() -> None:
    c = world()
    driver = RolloutDriver(c, clock=Clock())
    begin(c, strategy="shadow")
    await driver.step()
    judge(c, Outcome.FAIL)  # the evaluator deactivates the shadow
    await driver.step()

    assert rollout_of(c).outcome is RolloutOutcome.ROLLED_BACK
    assert rollout_changes(c) == [("c", "inactive", "shadow 10%")]  # never live
    assert activations(c.state)["c"] == "inactive"
