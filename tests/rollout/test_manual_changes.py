"""An operator's change to an instance a running rollout moves: refused, naming the rollout,
unless forced; forcing pauses the rollout in the same batch. The rollout's own changes and the
evaluator's rollbacks go through as before."""

from __future__ import annotations

import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.model import (
    Activation,
    ActivationChanged,
    Instance,
    RolloutOutcome,
    RolloutPaused,
)
from controlplane.rollout import RolloutDriver, abort, pause
from tests.rollout._world import EVALUATOR, Clock, begin, judge, rollout_of, world


async def at_first_step(clock: Clock | None = None) -> Controller:
    """web mid-canary: a (6) and b (3) of v1 live, c of v2 live at weight 1 (step 1, 10%);
    d of v1 registered but inactive when the rollout started, so not one it moves."""
    clock = clock or Clock()
    c = world(clock=clock, bake="1h")
    d = Instance(id="d", service="web", version="v1", address="10.0.0.9:80")
    c.add_instance(d, actor="ops")
    begin(c)
    assert len(await RolloutDriver(c, clock=clock).step()) == 2
    return c


REFUSED = {
    "reweight the candidate": ("c", Activation.live(5)),
    "deactivate the candidate": ("c", Activation.inactive()),
    "shadow the candidate": ("c", Activation.shadow(50)),
    "reweight a replaced instance": ("a", Activation.live(1)),
    "deactivate a replaced instance": ("b", Activation.inactive()),
}


@pytest.mark.parametrize(("instance_id", "after"), REFUSED.values(), ids=REFUSED.keys())
async def test_a_change_to_an_instance_the_rollout_moves_is_refused_and_records_nothing(
    instance_id: str, after: Activation
) -> None:
    c = await at_first_step()
    before = (len(c.history()), c.state)

    with pytest.raises(Conflict) as refused:
        c.change(instance_id, after, actor="ops")

    assert refused.value.message == (
        f"instance {instance_id!r} is controlled by rollout web/1 (canary of web to v2), at step "
        "1 (10%); pause it (weir rollout pause web) or abort it first, or repeat with --force, "
        "which pauses it in the same ledger batch as this change"
    )
    assert refused.value.field == "force"
    assert (len(c.history()), c.state) == before


async def test_retiring_a_candidate_before_the_first_step_is_refused_too() -> None:
    c = world()
    begin(c)
    length = len(c.history())

    with pytest.raises(Conflict, match=r"rollout web/1 .*, before its first step; pause it"):
        c.retire("c", actor="ops")

    assert len(c.history()) == length


async def test_force_pauses_the_rollout_in_the_same_batch_and_the_driver_leaves_it_be() -> None:
    clock = Clock()
    c = await at_first_step(clock)

    paused, change = c.change_batch(
        "c", Activation.live(5), actor="ops", reason="hotfix load test", force=True
    )

    assert isinstance(paused.event, RolloutPaused) and paused.event.rollout_id == "web/1"
    assert paused.actor == "ops"
    assert paused.reason == (
        "ops forced a change of c (live weight 1 → live weight 5) while the rollout moved it"
    )
    assert isinstance(change.event, ActivationChanged) and change.event.forced
    assert (change.actor, change.reason) == ("ops", "hotfix load test")
    assert change.seq == paused.seq + 1 and change.at == paused.at  # one append
    assert c.history()[-2:] == [paused, change]
    assert rollout_of(c).paused
    # the step's bake and verdicts pass, and still the driver holds
    judge(c)
    clock.advance(7200)
    assert await RolloutDriver(c, clock=clock).step() == []
    assert c.state.instances["c"].activation == Activation.live(5)


async def test_a_forced_flag_without_the_pause_is_refused_by_the_ledger_rules() -> None:
    """The pause in the batch is what allows the change, so no writer can skip it."""
    c = await at_first_step()
    forced = c.propose_change("c", Activation.live(5), actor="ops", force=True)

    with pytest.raises(Conflict, match="controlled by rollout web/1"):
        c.submit([forced])


async def test_once_paused_the_instances_are_the_operators_without_force() -> None:
    c = await at_first_step()
    pause(c, "web", actor="alice")
    length = len(c.history())

    entry = c.change("c", Activation.live(5), actor="ops")
    forced = c.change_batch("a", Activation.live(4), actor="ops", force=True)

    assert entry.seq == length + 1
    assert [e.seq for e in forced] == [length + 2]  # no second pause


async def test_the_evaluator_rolls_back_a_candidate_of_a_running_rollout() -> None:
    c = await at_first_step()

    entry = c.change("c", Activation.inactive(), actor=EVALUATOR, reason="rollback: failed")

    assert entry.seq == len(c.history())
    assert not rollout_of(c).paused


async def test_instances_the_rollout_does_not_move_stay_the_operators() -> None:
    c = await at_first_step()

    c.change("d", Activation.live(2), actor="ops")

    assert not rollout_of(c).paused


async def test_after_an_abort_the_instances_are_the_operators_again() -> None:
    c = await at_first_step()
    abort(c, "web", actor="alice")
    assert rollout_of(c).outcome is RolloutOutcome.ABORTED

    c.change("c", Activation.live(5), actor="ops")

    assert c.state.instances["c"].activation == Activation.live(5)
