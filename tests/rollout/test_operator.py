"""What operators do to a running rollout: pause, resume, promote; what each records."""

from __future__ import annotations

import pytest

from controlplane.errors import Conflict, NotFound
from controlplane.model import Outcome, RolloutOutcome, RolloutPromoted
from controlplane.rollout import RolloutDriver, Wait, next_action, pause, promote, resume
from tests.rollout._world import Clock, begin, judge, rollout_of, world


async def test_pause_holds_a_passed_step_and_resume_goes_on() -> None:
    c = world()
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await driver.step()
    pause(c, "web", actor="alice")
    judge(c)

    assert await driver.step() == []
    action = next_action(c.state, rollout_of(c), Clock()())
    assert isinstance(action, Wait) and action.why.startswith("paused")

    resume(c, "web", actor="alice")
    assert len(await driver.step()) == 2
    current = rollout_of(c).current
    assert current is not None and current.label == "50%"


async def test_a_failing_verdict_rolls_back_even_a_paused_rollout() -> None:
    c = world()
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await driver.step()
    pause(c, "web", actor="alice")
    judge(c, Outcome.FAIL)

    await driver.step()

    assert rollout_of(c).outcome is RolloutOutcome.ROLLED_BACK


async def test_promote_skips_the_rest_of_the_bake_and_the_verdict_and_records_who() -> None:
    c = world(bake="1h")
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await driver.step()
    assert await driver.step() == []

    entry = promote(c, "web", actor="carol", reason="looks fine on the dashboard")

    assert entry.actor == "carol" and entry.reason == "looks fine on the dashboard"
    assert isinstance(entry.event, RolloutPromoted) and entry.event.stage == 0
    assert len(await driver.step()) == 2  # on to 50% at once
    assert rollout_of(c).stages[0].promoted and not rollout_of(c).stages[1].promoted


@pytest.mark.parametrize(
    ("setup", "act", "error", "words"),
    [
        ("started", promote, Conflict, "has not taken its first step"),
        ("stepped", resume, Conflict, "is not paused"),
        ("paused", pause, Conflict, "already paused"),
        ("promoted", promote, Conflict, "already promoted"),
        ("none", pause, NotFound, "no rollout in progress"),
    ],
)
async def test_an_operator_action_that_makes_no_sense_is_refused_and_records_nothing(
    setup: str, act: object, error: type[Exception], words: str
) -> None:
    c = world()
    if setup != "none":
        begin(c)
    if setup in ("stepped", "paused", "promoted"):
        await RolloutDriver(c, clock=Clock()).step()
    if setup == "paused":
        pause(c, "web", actor="alice")
    if setup == "promoted":
        promote(c, "web", actor="alice")
    length = len(c.history())

    with pytest.raises(error, match=words):
        act(c, "web", actor="bob")  # type: ignore[operator]
    assert len(c.history()) == length
