"""A controller killed mid-rollout resumes it from the ledger, repeating and skipping nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.ledger import SqliteStore
from controlplane.model import RolloutOutcome, RolloutStepped
from controlplane.rollout import Advance, RolloutDriver, next_action
from tests.rollout._world import Clock, begin, drive, entries_of, judge, rollout_changes, world

COMPLETE = [
    ("c", "inactive", "live weight 1"),
    ("c", "live weight 1", "live weight 9"),
    ("a", "live weight 6", "inactive"),
    ("b", "live weight 3", "inactive"),
    ("a", "inactive", "retired"),
    ("b", "inactive", "retired"),
]


@pytest.mark.parametrize("steps_before_restart", [1, 2, 3, 4])
async def test_a_new_controller_on_the_same_ledger_completes_the_rollout(
    tmp_path: Path, steps_before_restart: int
) -> None:
    ledger = tmp_path / "weir.db"
    first = world(ledger)
    driver = RolloutDriver(first, clock=Clock())
    begin(first)
    for _ in range(steps_before_restart):
        if not await driver.step():
            judge(first)
            await driver.step()
    # kill: nothing of the first controller or driver survives but the file
    first_history = first.history()
    del first, driver

    second = Controller(SqliteStore(ledger))
    assert second.history() == first_history
    await drive(RolloutDriver(second, clock=Clock()), second)

    assert rollout_changes(second) == COMPLETE
    stages = [e.event.stage for e in entries_of(second) if isinstance(e.event, RolloutStepped)]
    assert stages == [0, 1, 2, 3]
    assert second.state.rollouts["web/1"].outcome is RolloutOutcome.COMPLETED


async def test_a_batch_planned_on_a_state_that_moved_on_is_refused_whole() -> None:
    c = world()
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    stale = next_action(c.state, c.state.rollouts["web/1"], Clock()())
    assert isinstance(stale, Advance)
    await driver.step()  # another driver (a replica that thought it led) got there first
    length = len(c.history())

    with pytest.raises(Conflict):
        c.submit(stale.batch)
    assert len(c.history()) == length
