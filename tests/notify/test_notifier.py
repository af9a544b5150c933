"""The notifier with the controller, the rollout driver and the evaluator in-process, telling
a real receiver on 127.0.0.1 what happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ledger import SqliteStore
from controlplane.model import Outcome
from controlplane.notify import Notifier, RetryPolicy
from controlplane.rollout import RolloutDriver
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge
from tests.notify._receiver import Receiver
from tests.rollout._world import Clock, begin, drive, judge, world
from tests.support import until

FAST = RetryPolicy(max_attempts=4, first_backoff_s=0.02, max_backoff_s=0.2, timeout_s=5.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=1) as r:  # every notification needs a retry
        yield r


@asynccontextmanager
async def notifying(
    c: Controller, path: Path, url: str, evaluator: Evaluator | None = None
) -> AsyncIterator[Notifier]:
    """A running notifier for `c`, reading the ledger file at `path` as weir serve does."""
    store = SqliteStore(path)
    notifier = Notifier(
        c,
        store.read,
        [url],
        budget=evaluator.budget if evaluator else None,
        policy=FAST,
        budget_interval_s=0.02,
    )
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()


async def test_a_canary_is_told_from_start_through_each_step_and_verdict_to_completion(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "weir.db"
    c = world(path)  # web: a, b live on v1; c registered with v2
    async with notifying(c, path, receiver.url):
        # When a canary of v2 runs to completion, every step passing its verdict
        begin(c)
        await drive(RolloutDriver(c, clock=Clock()), c)
        await until(lambda: "rollout.completed" in receiver.events())

    # Then the receiver heard each part of it, in ledger order, and nothing from before it
    events = receiver.events()
    assert events[0] == "rollout.started" and events[-1] == "rollout.completed", events
    assert events.count("rollout.step") >= 3 and "verdict.pass" in events, events
    assert "verdict.fail" not in events
    started, *_ = receiver.accepted()
    assert started["rollout"] == {"id": "web/1", "version": "v2", "strategy": "canary"}
    assert started["actor"] == "alice" and started["service"] == "web"
    steps = [b for b in receiver.accepted() if b["event"] == "rollout.step"]
    assert [s["stage"] for s in steps] == list(range(1, len(steps) + 1))
    assert all(s["rollout"]["version"] == "v2" for s in steps)
    passed = next(b for b in receiver.accepted() if b["event"] == "verdict.pass")
    assert passed["verdict"]["outcome"] == "pass" and passed["rollout"]["id"] == "web/1"
    seqs = [b["seq"] for b in receiver.accepted()]
    assert seqs == sorted(seqs)
    # each was retried once (the receiver fails every first attempt), and sent with one id
    assert len(receiver.attempts()) == 2 * len(events)


async def test_a_failing_verdict_is_told_with_both_rollbacks(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "weir.db"
    c = world(path)
    driver = RolloutDriver(c, clock=Clock())
    async with notifying(c, path, receiver.url):
        # When the canary's first step fails its verdict
        begin(c)
        await driver.step()
        judge(c, Outcome.FAIL)  # the verdict, then the evaluator's own rollback of c
        await driver.step()  # the rollout rolls back
        await until(lambda: "rollout.rolled_back" in receiver.events())

    assert receiver.events() == [
        "rollout.started",
        "rollout.step",
        "verdict.fail",
        "instance.rolled_back",
        "rollout.rolled_back",
    ]
    by_event = {b["event"]: b for b in receiver.accepted()}
    assert by_event["verdict.fail"]["instance_id"] == "c"
    assert by_event["verdict.fail"]["verdict"]["candidate"]["errors"] == 30
    assert by_event["instance.rolled_back"]["after"] == {"state": "inactive"}
    assert by_event["instance.rolled_back"]["actor"] == "evaluator"
    assert by_event["rollout.rolled_back"]["outcome"] == "rolled_back"


async def test_a_silent_receiver_never_holds_up_a_rollback(tmp_path: Path) -> None:
    path = tmp_path / "weir.db"
    c = world(path)
    driver = RolloutDriver(c, clock=Clock())
    with Receiver(stall_s=0.4) as silent:
        async with notifying(c, path, silent.url) as notifier:
            begin(c)
            await driver.step()
            await until(lambda: not notifier.idle)  # a notification is stuck on the receiver

            began = time.monotonic()
            judge(c, Outcome.FAIL)
            await driver.step()
            took = time.monotonic() - began

            assert c.state.rollouts["web/1"].outcome is not None
            assert took < 0.2, f"the rollback took {took:.2f}s"
            await until(lambda: "rollout.rolled_back" in [b["event"] for b in silent.accepted()])


async def test_the_budget_freeze_and_its_end_are_told_once_each(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "weir.db"
    c = world(path)
    source = ScriptedSource()
    evaluator = Evaluator(c, source, judge=rate_judge, extra_failures=extra_failures)
    async with notifying(c, path, receiver.url, evaluator):
        await evaluator.step()
        # When 5% of the service's requests fail (both live instances alike) against 99.9%
        for _ in range(3):
            for cluster in ("web--a", "web--b"):
                source.serve(cluster, 5_000, 250)
            await evaluator.step()
        await until(lambda: "budget.frozen" in receiver.events())
        # and then far more succeed, so the budget is whole again
        source.serve("web--a", 10_000_000, 0)
        await evaluator.step()
        await until(lambda: "budget.unfrozen" in receiver.events())
        await asyncio.sleep(0.1)  # more budget checks: nothing new to tell

    budget = [b for b in receiver.accepted() if b["event"].startswith("budget.")]
    assert [b["event"] for b in budget] == ["budget.frozen", "budget.unfrozen"]
    frozen = budget[0]
    assert frozen["service"] == "web" and frozen["seq"] is None
    assert frozen["budget"]["remaining"] < 0
    assert frozen["budget"]["errors"] == pytest.approx(0.05 * frozen["budget"]["requests"])
    assert "frozen" in frozen["text"]


async def test_history_from_before_the_notifier_started_is_not_news(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "weir.db"
    c = world(path)
    begin(c)
    async with notifying(c, path, receiver.url) as notifier:
        await asyncio.sleep(0.1)
        assert receiver.attempts() == []
        c.submit([])  # an empty append wakes it, with nothing to tell
        assert await notifier.flush(1.0)
    assert receiver.attempts() == []
