"""The planner's answer for a rollout at its first step, table-style: why it waits, or what it
appends. Pure: the same state and time give the same answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controlplane.control import Controller
from controlplane.model import Activation, Outcome, RolloutFinished, RolloutStepped
from controlplane.rollout import Advance, RolloutDriver, Wait, next_action, pause, resume
from tests.rollout._world import Clock, begin, judge, rollout_of, verdict, world

Given = Callable[[Controller, Clock], object]


def nothing(c: Controller, clock: Clock) -> None:
    pass


def later(seconds: float) -> Given:
    return lambda c, clock: clock.advance(seconds)


def passed(c: Controller, clock: Clock) -> None:
    judge(c)
    clock.advance(60)


def forced_then_resumed(c: Controller, clock: Clock) -> None:
    """An operator forces c's weight (which pauses the rollout), then resumes the rollout."""
    c.change("c", Activation.live(3), actor="ops", force=True)
    resume(c, "web", actor="ops")


def first_change(c: Controller) -> int:
    current = rollout_of(c).current
    assert current is not None
    return current.changes[0].seq


WAITS: list[tuple[str, Given, str, bool]] = [
    (
        "bake and verdict",
        nothing,
        "holding step 1 (10%) until 12:01:00Z; then the verdict on #9 (c)",
        True,
    ),
    ("verdict", later(60), "waiting for the evaluator's verdict on #9 (c)", False),
    ("bake", lambda c, clock: judge(c), "holding step 1 (10%) until 12:01:00Z", True),
    (
        "inconclusive",
        lambda c, clock: verdict(c, first_change(c), Outcome.INCONCLUSIVE),
        "no verdict on change #9 of c within the step's 10m (inconclusive by the test); the "
        "evaluator keeps judging it. To go on: `weir rollout promote` (on your word), or next "
        "time a longer step (--decide-within), bigger steps (--steps) or --accept-risk",
        False,
    ),
    (
        "changed by someone else",
        forced_then_resumed,
        "c was changed outside the rollout (entry #11) before change #9 had its verdict",
        False,
    ),
    (
        "paused",
        lambda c, clock: pause(c, "web", actor="alice"),
        "paused: `weir rollout resume`",
        False,
    ),
]


@pytest.mark.parametrize(
    ("given", "why", "timed"), [w[1:] for w in WAITS], ids=[w[0] for w in WAITS]
)
async def test_why_a_rollout_waits(given: Given, why: str, timed: bool) -> None:
    clock = Clock()
    c = world(bake="1m", clock=clock)
    begin(c)
    await RolloutDriver(c, clock=clock).step()
    given(c, clock)

    action = next_action(c.state, rollout_of(c), clock())

    assert isinstance(action, Wait)
    assert action.why.startswith(why), action.why
    assert (action.until is not None) == timed


async def test_a_passed_step_advances_to_the_next_in_one_batch() -> None:
    clock = Clock()
    c = world(bake="1m", clock=clock)
    begin(c)
    await RolloutDriver(c, clock=clock).step()
    passed(c, clock)

    action = next_action(c.state, rollout_of(c), clock())

    assert isinstance(action, Advance)
    stepped, change = action.batch
    assert isinstance(stepped.event, RolloutStepped) and stepped.event.label == "50%"
    assert stepped.event.at == clock()
    assert change.event.model_dump()["rollout_id"] == "web/1"
    assert next_action(c.state, rollout_of(c), clock()) == action  # pure


async def test_without_auto_rollback_a_fail_holds_the_rollout_for_the_operator() -> None:
    clock = Clock()
    c = world(auto_rollback=False, clock=clock)
    begin(c)
    await RolloutDriver(c, clock=clock).step()
    verdict(c, first_change(c), Outcome.FAIL)

    action = next_action(c.state, rollout_of(c), clock())

    assert isinstance(action, Wait) and "auto_rollback is off" in action.why


async def test_a_fail_verdict_with_auto_rollback_finishes_the_rollout_rolled_back() -> None:
    clock = Clock()
    c = world(clock=clock)
    begin(c)
    await RolloutDriver(c, clock=clock).step()
    judge(c, Outcome.FAIL)

    action = next_action(c.state, rollout_of(c), clock())

    assert isinstance(action, Advance)
    [finished] = action.batch  # the evaluator already took c out: nothing else to undo
    assert isinstance(finished.event, RolloutFinished)
    assert finished.event.outcome == "rolled_back"
