"""A rollout that cannot start is refused with a message naming why, and records nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict, InvalidInput, NotFound, WeirError
from controlplane.model import Activation, ActivationChanged, Instance
from controlplane.rollout import RolloutDriver, abort, plan_for, start
from tests.rollout._world import Clock, begin, judge, rollout_of, world

SPENT = "the error budget of service 'web' is exhausted"


def retired_v3(c: Controller) -> None:
    c.add_instance(
        Instance(id="e", service="web", version="v3", address="10.0.0.9:80"), actor="ops"
    )
    c.retire("e", actor="ops")


def v2_everywhere(c: Controller) -> None:
    c.change("c", Activation.live(1), actor="ops")
    c.change("a", Activation.inactive(), actor="ops")
    c.change("b", Activation.inactive(), actor="ops")


Refusal = tuple[str, Callable[[Controller], object], dict[str, str], type[WeirError], str]
REFUSALS: list[Refusal] = [
    ("unknown service", lambda c: None, {"service": "nope"}, NotFound, "unknown service 'nope'"),
    (
        "unknown version",
        lambda c: None,
        {"version": "v9"},
        NotFound,
        "unknown version 'v9': no instance of service 'web' runs it (registered versions: v1, v2)",
    ),
    (
        "no registered instance of it",
        retired_v3,
        {"version": "v3"},
        NotFound,
        "every instance of version 'v3' of service 'web' is retired",
    ),
    (
        "already live at 100%",
        v2_everywhere,
        {},
        Conflict,
        "version 'v2' already serves all live traffic of service 'web'",
    ),
    (
        "a second rollout",
        begin,
        {},
        Conflict,
        "already has rollout web/1 (canary of web to v2) in progress",
    ),
    (
        "an exhausted error budget",
        lambda c: c.gate_on_budget(lambda service: SPENT),
        {},
        Conflict,
        f"no rollout now: {SPENT}",
    ),
]


@pytest.mark.parametrize(
    ("given", "args", "error", "words"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_a_rollout_that_cannot_start_is_refused_whole(
    given: Callable[[Controller], object],
    args: dict[str, str],
    error: type[WeirError],
    words: str,
) -> None:
    c = world()
    given(c)
    length = len(c.history())

    with pytest.raises(error, match=re.escape(words)):
        plan = plan_for(c.state.services["web"])
        start(c, args.get("service", "web"), args.get("version", "v2"), plan, actor="alice")
    assert len(c.history()) == length


def test_the_budget_is_asked_through_the_callable_given() -> None:
    c = world()
    asked: list[str] = []

    def gate(service: str) -> str | None:
        asked.append(service)
        return "frozen by the test"

    with pytest.raises(Conflict, match="frozen by the test"):
        start(c, "web", "v2", plan_for(c.state.services["web"]), actor="a", budget_gate=gate)
    assert asked == ["web"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"strategy": "partial", "steps": (1, 100)}, "steps"),
        ({"strategy": "canary", "mirror_percent": 5}, "mirror_percent"),
        ({"strategy": "shadow", "verify_in_shadow": True}, "verify_in_shadow"),
    ],
)
def test_an_option_the_strategy_has_no_use_for_is_refused(
    options: dict[str, Any], field: str
) -> None:
    c = world()
    with pytest.raises(InvalidInput, match="does not apply") as raised:
        plan_for(c.state.services["web"], **options)
    assert raised.value.field == field


async def test_an_exhausted_budget_mid_rollout_holds_new_traffic_and_says_why() -> None:
    c = world(old={"a": 1}, steps=(50, 100))
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    c.gate_on_budget(lambda service: SPENT)

    assert await driver.step() == []
    assert SPENT in (driver.refusal("web/1") or "")

    c.gate_on_budget(lambda service: None)
    assert await driver.step()
    assert driver.refusal("web/1") is None


async def test_a_rollback_is_never_held_by_the_budget() -> None:
    c = world(steps=(50, 100))
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await driver.step()
    judge(c)
    await driver.step()  # a out
    c.gate_on_budget(lambda service: SPENT)

    abort(c, "web", actor="bob")  # a back to live: taking back traffic it had, not new traffic

    assert rollout_of(c).outcome is not None
    assert c.state.instances["a"].activation == Activation.live(6)
    assert not c.history()[-1].event.model_dump().get("budget_override")


async def test_aborting_the_first_rollout_of_a_service_takes_its_only_instance_away() -> None:
    c = world(old={})
    driver = RolloutDriver(c, clock=Clock())
    begin(c)
    await driver.step()  # c live: the service's first and only live instance

    abort(c, "web", actor="bob")

    assert c.state.live_of("web") == []
    last = c.history()[-1].event
    assert isinstance(last, ActivationChanged) and last.forced
