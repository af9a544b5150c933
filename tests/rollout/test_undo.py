"""A way back: a completed rollout keeps the instances it replaced warm for its grace, `undo`
returns the service to them meanwhile, and once they are retired the refusal says how to
register the old version again."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.model import ActivationChanged, RolloutOutcome, RolloutUndone
from controlplane.rollout import RolloutDriver, abort, in_grace, undo
from tests.rollout._world import Clock, begin, drive, judge, rollout_of, world


def shares(c: Controller) -> dict[str, str]:
    return {i.instance.id: i.activation.describe() for i in c.state.instances_of("web")}


async def completed(clock: Clock, **rollout: Any) -> tuple[Controller, RolloutDriver]:
    c = world(clock=clock, grace="5m", **rollout)
    driver = RolloutDriver(c, clock=clock)
    begin(c)
    await drive(driver, c)
    return c, driver


async def test_a_completed_rollout_keeps_what_it_replaced_warm_for_the_grace_then_retires_it() -> (
    None
):
    clock = Clock()
    c, driver = await completed(clock)

    assert rollout_of(c).outcome is RolloutOutcome.COMPLETED  # no hidden grace step
    assert shares(c) == {"a": "inactive", "b": "inactive", "c": "live weight 9"}
    assert in_grace(c.state, rollout_of(c)) == ["a", "b"]
    clock.advance(299)
    assert await driver.step() == []

    clock.advance(1)
    retired = await driver.step()

    assert [(e.actor, getattr(e.event, "instance_id", None)) for e in retired] == [
        ("rollout", "a"),
        ("rollout", "b"),
    ]
    assert all("grace of rollout web/1 over (5m)" in e.reason for e in retired)
    assert shares(c) == {"a": "retired", "b": "retired", "c": "live weight 9"}
    assert await driver.step() == []


async def test_undo_within_the_grace_gives_the_old_version_its_traffic_back_in_one_batch() -> None:
    clock = Clock()
    c, driver = await completed(clock)
    clock.advance(120)

    entries = undo(c, "web", actor="bob", reason="checkout errors")

    assert isinstance(entries[0].event, RolloutUndone)
    assert entries[0].actor == "bob"
    assert "web back to v1 by bob: checkout errors" in entries[0].reason
    changes = [e.event for e in entries[1:]]
    assert [
        (e.instance_id, e.after.describe()) for e in changes if isinstance(e, ActivationChanged)
    ] == [
        ("a", "live weight 6"),  # the traffic returns first, at the weights before the rollout
        ("b", "live weight 3"),
        ("c", "inactive"),
    ]
    assert {e.seq for e in entries} == set(range(entries[0].seq, entries[-1].seq + 1))
    assert shares(c) == {"a": "live weight 6", "b": "live weight 3", "c": "inactive"}
    assert rollout_of(c).undone_seq == entries[0].seq
    clock.advance(3600)
    assert await driver.step() == []  # nothing of an undone rollout is retired later
    with pytest.raises(Conflict, match="undone already"):
        undo(c, "web", actor="bob")


async def test_after_the_grace_undo_says_how_to_bring_the_old_version_back() -> None:
    clock = Clock()
    c, driver = await completed(clock)
    clock.advance(300)
    await driver.step()

    with pytest.raises(Conflict) as refused:
        undo(c, "web", actor="bob")

    message = refused.value.message
    assert "the grace of the instances it replaced ended at 2030-06-01 12:05:00Z" in message
    assert "a, b are retired (retired is final)" in message
    assert message.splitlines()[1:] == [
        "  weir instance add web --id a-2 --version v1 --address 10.0.0.1:80",
        "  weir instance add web --id b-2 --version v1 --address 10.0.0.2:80",
        "  weir rollout start web --version v1",
    ]


async def test_undo_is_refused_while_running_and_after_a_rollback() -> None:
    clock = Clock()
    c = world(clock=clock, grace="5m")
    driver = RolloutDriver(c, clock=clock)
    begin(c)
    await driver.step()
    with pytest.raises(Conflict, match="still in progress: `weir rollout abort web`"):
        undo(c, "web", actor="bob")

    abort(c, "web", actor="bob")

    with pytest.raises(Conflict, match="was aborted: it left the service as it found it"):
        undo(c, "web", actor="bob")


async def test_undo_restores_the_weights_before_a_rescale() -> None:
    clock = Clock()
    c, _ = await completed(clock, old={"a": 100})  # 10% beside 100: scaled to 900 first
    judge(c)

    undo(c, "web", actor="bob")

    assert shares(c) == {"a": "live weight 100", "c": "inactive"}
