"""The state is a fold over the ledger, in sequence order, and nothing else."""

from __future__ import annotations

import pytest

from controlplane.model import Activation, ActivationChanged, State, apply_event, fold
from tests.unit._builders import entries, instance, service

LIVE = ActivationChanged(
    instance_id="blue",
    service="web",
    before=Activation.inactive(),
    after=Activation.live(10),
)
HISTORY = entries(service("web"), instance("blue"), LIVE)


def test_fold_replays_the_history() -> None:
    state = fold(HISTORY)
    assert state.seq == 3
    assert list(state.services) == ["web"]
    blue = state.instances["blue"]
    assert (blue.activation, blue.since_seq) == (Activation.live(10), 3)


def test_fold_continues_from_a_state() -> None:
    assert fold(HISTORY[2:], fold(HISTORY[:2])) == fold(HISTORY)


@pytest.mark.parametrize(
    "history",
    [
        [HISTORY[0], HISTORY[2]],
        HISTORY[1:],
        [HISTORY[0], HISTORY[0]],
        [HISTORY[1], HISTORY[0]],
    ],
    ids=["gap", "not from 1", "repeat", "out of order"],
)
def test_fold_refuses_a_ledger_with_a_gap(history: list[object]) -> None:
    with pytest.raises(ValueError, match="ledger gap"):
        fold(history)  # type: ignore[arg-type]


def test_apply_event_returns_a_new_state_and_leaves_the_old_alone() -> None:
    before = fold(HISTORY[:2])
    after = apply_event(before, LIVE, 3)
    assert before.instances["blue"].activation == Activation.inactive()
    assert after.instances["blue"].activation == Activation.live(10)
    with pytest.raises(TypeError):
        before.instances["blue"] = after.instances["blue"]  # type: ignore[index]


def test_an_empty_ledger_is_an_empty_state() -> None:
    assert fold([]) == State()
