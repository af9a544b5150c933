"""Rollout entries in the ledger: what the rules refuse, and what the fold makes of them."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict, WeirError
from controlplane.model import (
    Activation,
    ActivationChanged,
    Event,
    Prior,
    ProposedEntry,
    RolloutFinished,
    RolloutOutcome,
    RolloutStarted,
    RolloutStepped,
    fold,
)
from controlplane.rollout import RolloutDriver
from tests.rollout._world import Clock, begin, drive, rollout_of, world


def submit(c: Controller, *events: Event) -> None:
    c.submit([ProposedEntry(actor="test", event=e) for e in events])


def stray_change(c: Controller) -> None:
    event = c.propose_change("c", Activation.live(2), actor="test").event
    assert isinstance(event, ActivationChanged)
    submit(c, event.model_copy(update={"rollout_id": "web/1"}))


def step_behind(c: Controller) -> None:
    submit(
        c,
        RolloutStepped(rollout_id="web/1", service="web", stage=0, label="again", at=Clock()()),
    )


def stale_prior(c: Controller) -> None:
    rollout = rollout_of(c)
    submit(c, RolloutFinished(rollout_id=rollout.id, service="web", outcome="aborted"))
    submit(
        c,
        RolloutStarted(
            rollout_id="web/2",
            service="web",
            version="v2",
            plan=rollout.plan,
            candidates=("c",),
            replaced=("a", "b"),
            prior=(
                Prior(instance_id="c", activation=Activation.inactive()),  # c is live now
                Prior(instance_id="a", activation=Activation.live(6)),
                Prior(instance_id="b", activation=Activation.live(3)),
            ),
        ),
    )


def finish_twice(c: Controller) -> None:
    for _ in range(2):
        submit(c, RolloutFinished(rollout_id="web/1", service="web", outcome="aborted"))


REFUSED: list[tuple[str, Callable[[Controller], None], str]] = [
    ("a rollout's change outside its step", stray_change, "must be appended with the step"),
    ("a step behind the current one", step_behind, "is already at step 1"),
    ("a start on a stale picture", stale_prior, "the state moved on"),
    ("a finished rollout finishing again", finish_twice, "has finished (aborted)"),
]


@pytest.mark.parametrize(("act", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_the_ledger_refuses(act: Callable[[Controller], None], words: str) -> None:
    c = world()
    begin(c)
    await RolloutDriver(c, clock=Clock()).step()

    with pytest.raises(WeirError, match=re.escape(words)):
        act(c)


async def test_the_fold_of_the_stored_ledger_is_the_controllers_state() -> None:
    c = world(steps=(50, 100))
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await drive(driver, c)

    assert fold(c.history()) == c.state
    rollout = rollout_of(c)
    assert rollout.outcome is RolloutOutcome.COMPLETED
    assert [len(s.changes) for s in rollout.stages] == [1, 1, 1]  # retirements are not a step's
    assert rollout.touched == ("c", "a", "b")
    assert len(rollout.change_seqs) == 5


async def test_a_second_rollout_may_start_once_the_first_has_finished() -> None:
    c = world()
    begin(c)
    with pytest.raises(Conflict):
        begin(c)
    submit(c, RolloutFinished(rollout_id="web/1", service="web", outcome="aborted"))

    assert begin(c) == "web/2"
    assert c.state.active_rollout("web") is rollout_of(c, "web/2")
