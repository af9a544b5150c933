"""The split check: the proxies must split live traffic as the weights ask, compared over
periods of constant weights only, among the instances taking traffic."""

from __future__ import annotations

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.evaluator._loop import SPLIT_SETTLE_S
from controlplane.model import Activation, Instance
from controlplane.verdict import split_mismatch
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge
from tests.evaluator.test_loop import mesh


def checked_mesh() -> tuple[Controller, ScriptedSource, Evaluator]:
    c, source, _ = mesh()
    evaluator = Evaluator(
        c, source, judge=rate_judge, extra_failures=extra_failures, split_check=split_mismatch
    )
    c.change("new", Activation.live(1), actor="ops")  # old 9 : new 1
    return c, source, evaluator


async def settle(evaluator: Evaluator) -> None:
    """Steps (a scrape a second) until the weights' period starts to count."""
    for _ in range(int(SPLIT_SETTLE_S) + 1):
        await evaluator.step()


async def test_a_split_as_asked_is_no_mismatch() -> None:
    _, source, evaluator = checked_mesh()
    await settle(evaluator)
    source.serve("web--old", 9_000)
    source.serve("web--new", 1_000)
    await evaluator.step()
    assert evaluator.splits["web"].mismatch is False


async def test_a_split_the_proxies_ignore_is_reported_naming_the_instance() -> None:
    _, source, evaluator = checked_mesh()
    await settle(evaluator)
    source.serve("web--old", 5_000)
    source.serve("web--new", 5_000)  # half, not a tenth
    await evaluator.step()
    check = evaluator.splits["web"]
    assert check.mismatch is True
    assert "new" in check.reason or "old" in check.reason


async def test_new_weights_start_a_new_period_once_they_settled() -> None:
    c, source, evaluator = checked_mesh()
    await settle(evaluator)
    source.serve("web--old", 5_000)
    source.serve("web--new", 5_000)
    c.change("new", Activation.live(9), actor="ops")  # now 9 : 9
    await evaluator.step()
    assert "web" not in evaluator.splits  # the old counts say nothing about the new ask
    await evaluator.step()
    source.serve("web--old", 900)  # a late flush: requests routed under 9 : 1
    source.serve("web--new", 100)
    await settle(evaluator)
    assert evaluator.splits["web"].requests == 0  # none of those counted
    source.serve("web--old", 500)
    source.serve("web--new", 500)
    await evaluator.step()
    assert evaluator.splits["web"].mismatch is False
    assert evaluator.splits["web"].requests == 1_000


async def test_after_a_rollback_the_instances_left_are_compared_and_the_one_gone_ignored() -> None:
    c, source, evaluator = checked_mesh()
    c.add_instance(
        Instance(id="v3", service="web", version="v3", address="10.0.0.9:80"), actor="ops"
    )
    c.change("v3", Activation.live(2), actor="ops")  # old 9 : new 1 : v3 2
    await settle(evaluator)
    source.serve("web--old", 7_500)
    source.serve("web--new", 830)
    source.serve("web--v3", 1_670)
    await evaluator.step()
    assert evaluator.splits["web"].mismatch is False

    # When v3 is rolled back, and its last answers, and requests routed to it under the old
    # weights, arrive after the change
    c.change("v3", Activation.inactive(), actor="evaluator", reason="rollback")
    await evaluator.step()
    source.serve("web--v3", 300)
    source.serve("web--old", 700)
    await evaluator.step()
    source.serve("web--old", 1_400)
    await evaluator.step()
    source.serve("web--v3", 20)
    await settle(evaluator)
    source.serve("web--old", 9_000)
    source.serve("web--new", 1_000)
    await evaluator.step()

    # Then old and new are compared as their weights ask, and no MISMATCH names v3
    check = evaluator.splits["web"]
    assert check.mismatch is False, check.reason
    assert set(check.shares) == {"old", "new"}


async def test_a_live_instance_at_weight_zero_takes_no_part() -> None:
    c, source, evaluator = checked_mesh()
    c.add_instance(
        Instance(id="idle", service="web", version="v1", address="10.0.0.8:80"), actor="ops"
    )
    c.change("idle", Activation.live(0), actor="ops")
    await settle(evaluator)
    source.serve("web--old", 9_000)
    source.serve("web--new", 1_000)
    await evaluator.step()
    assert set(evaluator.splits["web"].shares) == {"old", "new"}
