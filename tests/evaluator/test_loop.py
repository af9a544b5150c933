"""The evaluator loop: open changes, judge them from scrapes, record verdicts, roll back."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ledger import SqliteStore
from controlplane.model import (
    Activation,
    ActivationChanged,
    ActivationState,
    Instance,
    Outcome,
    Risk,
    RolloutDefaults,
    ServiceSpec,
    Verdict,
    VerdictRecorded,
)
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge


def mesh(*, auto_rollback: bool = True) -> tuple[Controller, ScriptedSource, Evaluator]:
    """web with `old` live at weight 9 and `new` registered, inactive."""
    c = Controller(SqliteStore(":memory:"))
    spec = ServiceSpec(
        name="web",
        risk=Risk(cost_per_failed_request=0.5),
        rollout=RolloutDefaults(auto_rollback=auto_rollback),
    )
    c.apply_service(spec, actor="ops")
    for n, instance_id in enumerate(("old", "new")):
        instance = Instance(
            id=instance_id, service="web", version=f"v{n}", address=f"10.0.0.{n}:80"
        )
        c.add_instance(instance, actor="ops")
    c.change("old", Activation.live(9), actor="ops")
    source = ScriptedSource()
    evaluator = Evaluator(c, source, judge=rate_judge, extra_failures=extra_failures)
    return c, source, evaluator


def verdicts(c: Controller) -> list[VerdictRecorded]:
    return [e.event for e in c.history() if isinstance(e.event, VerdictRecorded)]


async def test_a_failing_change_is_judged_recorded_and_rolled_back() -> None:
    c, source, evaluator = mesh()
    await evaluator.step()  # old's own change opens and passes later; not the point here
    change = c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()  # the first scrape after the change is its zero
    source.serve("web--old", 900, 1)
    source.serve("web--new", 100, 30)
    await evaluator.step()

    [*_, recorded] = verdicts(c)
    assert recorded.change_seq == change.seq and recorded.instance_id == "new"
    assert recorded.verdict.outcome is Outcome.FAIL
    assert recorded.verdict.extra_failures == pytest.approx(30 - 100 / 900)
    assert recorded.verdict.cost == pytest.approx(0.5 * (30 - 100 / 900))
    last = c.history()[-1]
    assert last.actor == "evaluator"
    assert isinstance(last.event, ActivationChanged)
    assert last.event.instance_id == "new" and last.event.after == Activation.inactive()
    assert f"change {change.seq} failed" in last.reason and "error rate 30%" in last.reason


async def test_a_passing_change_stays_live() -> None:
    c, source, evaluator = mesh()
    c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()
    source.serve("web--old", 900, 1)
    source.serve("web--new", 100, 0)
    await evaluator.step()

    assert [v.verdict.outcome for v in verdicts(c) if v.instance_id == "new"] == [Outcome.PASS]
    assert c.state.instances["new"].state is ActivationState.LIVE


async def test_low_traffic_stays_open_and_records_nothing() -> None:
    c, source, evaluator = mesh()
    c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()
    source.serve("web--new", 10, 1)
    await evaluator.step()

    [open_new] = [e for e in evaluator.evaluations() if e.instance_id == "new"]
    assert open_new.verdict is not None and open_new.verdict.outcome is Outcome.INCONCLUSIVE
    assert not [v for v in verdicts(c) if v.instance_id == "new"]


async def test_an_unreadable_source_is_inconclusive_never_a_pass() -> None:
    c, source, evaluator = mesh()
    c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()
    source.serve("web--new", 500, 0)
    source.down = True
    await evaluator.step()

    [open_new] = [e for e in evaluator.evaluations() if e.instance_id == "new"]
    assert open_new.verdict is not None and open_new.verdict.outcome is Outcome.INCONCLUSIVE
    assert "refused the connection" in open_new.verdict.reason
    assert evaluator.source_error is not None
    assert not [v for v in verdicts(c) if v.instance_id == "new"]


async def test_without_auto_rollback_a_fail_is_recorded_but_left_in_place() -> None:
    c, source, evaluator = mesh(auto_rollback=False)
    c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()
    source.serve("web--old", 900, 0)
    source.serve("web--new", 100, 50)
    await evaluator.step()

    assert [v.verdict.outcome for v in verdicts(c) if v.instance_id == "new"] == [Outcome.FAIL]
    assert c.state.instances["new"].state is ActivationState.LIVE


async def test_a_change_superseded_before_a_decision_keeps_its_latest_verdict() -> None:
    c, source, evaluator = mesh()
    first = c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()
    source.serve("web--new", 20, 0)
    await evaluator.step()
    c.change("new", Activation.live(3), actor="ops")  # the next canary step
    await evaluator.step()

    [recorded] = [v for v in verdicts(c) if v.instance_id == "new"]
    assert recorded.change_seq == first.seq
    assert recorded.verdict.outcome is Outcome.INCONCLUSIVE
    assert [e.change_seq for e in evaluator.evaluations() if e.instance_id == "new"] == [
        c.state.instances["new"].since_seq
    ]


async def test_a_shadow_instance_is_judged_and_a_failing_shadow_deactivated() -> None:
    c, source, evaluator = mesh()
    c.change("new", Activation.shadow(50), actor="ops")
    await evaluator.step()
    source.serve("web--old", 1000, 1)
    source.serve("web--new", 500, 100)  # mirrored copies, counted on the shadow's cluster
    await evaluator.step()

    assert [v.verdict.outcome for v in verdicts(c) if v.instance_id == "new"] == [Outcome.FAIL]
    assert c.state.instances["new"].state is ActivationState.INACTIVE


async def test_an_idle_change_is_judged_again_as_it_ages_and_at_once_on_new_evidence() -> None:
    c, source, _ = mesh()
    now = [1_000.0]
    judged: list[float] = []

    def counting_judge(*args: Any, **kwargs: Any) -> Verdict:
        judged.append(kwargs["elapsed_s"])
        return rate_judge(*args, **kwargs)

    evaluator = Evaluator(
        c, source, judge=counting_judge, extra_failures=extra_failures, clock=lambda: now[0]
    )
    c.change("new", Activation.live(1), actor="ops")
    for _ in range(100):  # no traffic for 100 s: nothing new to judge
        await evaluator.step()
        now[0] += 1.0
    (idle,) = [e for e in evaluator.evaluations() if e.instance_id == "new"]
    assert idle.verdict is not None and idle.verdict.outcome is Outcome.INCONCLUSIVE
    assert idle.verdict.elapsed_s >= (now[0] - 1.0 - idle.opened_at) / 1.1 - 1.0
    assert len(judged) < 2 * 40  # two open changes, judged far less than every second

    source.serve("web--new", 100)
    source.serve("web--old", 900)
    await evaluator.step()  # new evidence: judged at once, and it passes
    assert [v.verdict.outcome for v in verdicts(c) if v.instance_id == "new"] == [Outcome.PASS]
