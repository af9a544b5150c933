"""What the ledger accepts: check_batch, table-style.

The world every case starts from: service `web` with blue live (100), green inactive and old
retired; service `api` with one live instance, solo.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controlplane.errors import Conflict, NotFound, WeirError
from controlplane.model import Activation, ActivationState, Event, State, check_batch
from tests.unit._builders import change, commit, go_live, instance, proposed, service


def world() -> State:
    state = commit(
        State(),
        service("web", domains=("web.internal",)),
        service("api"),
        instance("blue", address="127.0.0.1:9001"),
        instance("green", address="127.0.0.1:9002"),
        instance("old", address="127.0.0.1:9003"),
        instance("solo", "api", address="127.0.0.1:9004"),
    )
    state = go_live(state, "blue", 100)
    state = go_live(state, "solo", 1)
    return commit(state, change(state, "old", Activation.retired()))


Batch = Callable[[State], list[Event]]

REFUSED: list[tuple[str, Batch, type[WeirError], str | None, str]] = [
    ("duplicate id", lambda s: [instance("green")], Conflict, "id", "already taken"),
    (
        "duplicate id in one batch",
        lambda s: [instance("new"), instance("new")],
        Conflict,
        "id",
        "already taken",
    ),
    ("unknown service", lambda s: [instance("x", "nope")], NotFound, "service", "'nope'"),
    (
        "unknown instance",
        lambda s: [
            change(s, "blue", Activation.inactive()).model_copy(update={"instance_id": "ghost"})
        ],
        NotFound,
        "id",
        "'ghost'",
    ),
    (
        "stale before",
        lambda s: [change(s, "green", Activation.live(5), before=Activation.shadow(5))],
        Conflict,
        None,
        "moved on",
    ),
    (
        "retired is final",
        lambda s: [change(s, "old", Activation.live(5))],
        Conflict,
        None,
        "retired is final",
    ),
    (
        "retiring a live instance",
        lambda s: [change(s, "blue", Activation.retired())],
        Conflict,
        None,
        "deactivate it first",
    ),
    (
        "no-op change",
        lambda s: [change(s, "green", Activation.inactive())],
        Conflict,
        None,
        "already inactive",
    ),
    (
        "zero total live weight",
        lambda s: [change(s, "green", Activation.live(0)), change(s, "blue", Activation.live(0))],
        Conflict,
        "weight",
        "total weight of 0",
    ),
    (
        "last live deactivated",
        lambda s: [change(s, "blue", Activation.inactive())],
        Conflict,
        "force",
        "last live instance",
    ),
    (
        "last live to shadow",
        lambda s: [change(s, "solo", Activation.shadow(10))],
        Conflict,
        "force",
        "last live instance",
    ),
    (
        "a domain another service routes",
        lambda s: [service("shop", domains=("web.internal",))],
        Conflict,
        "domains",
        "already routes to service 'web'",
    ),
    (
        "a good event before a bad one",
        lambda s: [change(s, "green", Activation.live(5)), instance("x", "nope")],
        NotFound,
        "service",
        "unknown service",
    ),
]


@pytest.mark.parametrize(
    ("batch", "error", "field", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_refused(batch: Batch, error: type[WeirError], field: str | None, message: str) -> None:
    state = world()
    with pytest.raises(error, match=message) as caught:
        check_batch(state, proposed(*batch(state)))
    assert type(caught.value) is error
    assert caught.value.field == field


ACCEPTED: list[tuple[str, Batch, dict[str, Activation]]] = [
    (
        "blue-green: green live, then blue inactive",
        lambda s: [
            change(s, "green", Activation.live(100)),
            change(s, "blue", Activation.inactive()),
        ],
        {"green": Activation.live(100), "blue": Activation.inactive()},
    ),
    (
        "blue-green the other way round: the middle has no live instance, the end has",
        lambda s: [
            change(s, "blue", Activation.inactive()),
            change(s, "green", Activation.live(100)),
        ],
        {"green": Activation.live(100), "blue": Activation.inactive()},
    ),
    (
        "last live deactivated, forced",
        lambda s: [change(s, "blue", Activation.inactive(), forced=True)],
        {"blue": Activation.inactive()},
    ),
    (
        "a live instance at weight 0 beside a positive one",
        lambda s: [change(s, "green", Activation.live(0))],
        {"green": Activation.live(0), "blue": Activation.live(100)},
    ),
    (
        "register and activate in one batch",
        lambda s: [
            instance("canary", address="127.0.0.1:9005"),
            change(s, "green", Activation.live(1)).model_copy(
                update={"instance_id": "canary", "before": Activation.inactive()}
            ),
        ],
        {"canary": Activation.live(1)},
    ),
    (
        "retiring an inactive instance",
        lambda s: [change(s, "green", Activation.retired())],
        {"green": Activation.retired()},
    ),
    (
        "re-applying a service keeps its own domains",
        lambda s: [service("web", domains=("web.internal", "www"))],
        {"blue": Activation.live(100)},
    ),
]


@pytest.mark.parametrize(
    ("batch", "expected"), [pytest.param(*case[1:], id=case[0]) for case in ACCEPTED]
)
def test_accepted(batch: Batch, expected: dict[str, Activation]) -> None:
    state = world()
    events = batch(state)
    after = check_batch(state, proposed(*events))
    assert after.seq == state.seq + len(events)
    for instance_id, activation in expected.items():
        assert after.instances[instance_id].activation == activation


def test_checking_a_batch_leaves_the_state_it_was_given_alone() -> None:
    state = world()
    check_batch(state, proposed(change(state, "green", Activation.live(5))))
    assert state.instances["green"].state is ActivationState.INACTIVE


def test_an_instance_registers_inactive() -> None:
    state = commit(world(), instance("new", address="127.0.0.1:9009"))
    assert state.instances["new"].activation == Activation.inactive()
    assert state.instances["new"].since_seq == state.seq
