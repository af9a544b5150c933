"""The driver as `weir serve` runs it: a task that keeps going until cancelled."""

from __future__ import annotations

import asyncio

from controlplane.model import RolloutOutcome
from controlplane.rollout import RolloutDriver
from tests.rollout._world import begin, judge, rollout_of, world
from tests.support import until


async def test_run_drives_rollouts_until_cancelled() -> None:
    c = world()
    driver = RolloutDriver(c, interval_s=0.01)
    task = asyncio.create_task(driver.run())
    begin(c)
    try:
        for _ in range(500):
            await asyncio.sleep(0.01)
            assert driver.running
            judge(c)
            if rollout_of(c).outcome is not None:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert rollout_of(c).outcome is RolloutOutcome.COMPLETED
    assert not driver.running


async def test_a_failing_tick_does_not_end_the_loop() -> None:
    c = world()
    driver = RolloutDriver(c, interval_s=0.01)
    ticks = 0

    async def flaky() -> list[object]:
        nonlocal ticks
        ticks += 1
        raise RuntimeError("the disk hiccupped")

    driver.step = flaky  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(driver.run())
    # Bounded, and waiting on the ticks themselves: a busy machine may run few in 0.1 s
    await until(lambda: ticks > 2 or task.done(), timeout=10, what="three ticks")
    assert not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
