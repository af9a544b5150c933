"""Which ledger entries make which notifications: a pure function of the entries and state."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.evaluator import Budget
from controlplane.notify import EVENT_KINDS, budget_notification, notifications_of
from controlplane.rollout import RolloutDriver, abort, pause, promote, resume
from tests.rollout._world import Clock, begin, world


async def test_operator_commands_on_a_rollout_each_make_one_notification() -> None:
    c = world()
    before = c.state.seq
    begin(c)
    await RolloutDriver(c, clock=Clock()).step()
    pause(c, "web", actor="bob")
    resume(c, "web", actor="bob")
    promote(c, "web", actor="bob")
    abort(c, "web", actor="bob", reason="wrong build")

    made = notifications_of(c.history()[before:], c.state)

    assert [n.kind for n in made] == [
        "rollout.started",
        "rollout.step",
        "rollout.paused",
        "rollout.resumed",
        "rollout.promoted",
        "rollout.aborted",
    ]
    assert {n.kind for n in made} <= set(EVENT_KINDS)
    assert len({n.id for n in made}) == len(made)
    aborted = made[-1].body
    assert aborted["actor"] == "bob" and "wrong build" in aborted["reason"]
    assert aborted["rollout"]["version"] == "v2" and aborted["at"].endswith("Z")


def test_service_and_instance_edits_and_operator_changes_are_not_told() -> None:
    c = world()  # a service applied, instances registered and activated by `ops`

    assert notifications_of(c.history(), c.state) == []


def test_a_budget_notification_carries_the_numbers_behind_it() -> None:
    budget = Budget(
        service="web",
        success_rate=99.9,
        window_s=86400.0,
        requests=10_000.0,
        errors=500.0,
        allowed_failures=10.0,
        remaining=-49.0,
        burn_rates=(),
    )
    at = datetime(2030, 1, 1, tzinfo=UTC)

    frozen = budget_notification(budget, frozen=True, count=1, at=at)

    assert frozen.kind == "budget.frozen" and frozen.id == "budget:web:1"
    assert frozen.body["at"] == "2030-01-01T00:00:00Z"
    assert frozen.body["budget"]["remaining"] == -49.0
    assert "500 failed of 10000 requests" in frozen.body["text"]
    # On replicas each leader numbers from 1: its term keeps the id from naming another's.
    by_leader = budget_notification(budget, frozen=True, count=1, at=at, term=3)
    assert by_leader.id == by_leader.body["id"] == "budget:web:t3:1"
