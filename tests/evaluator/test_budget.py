"""Error budget, burn rates and the freeze they put on new live traffic."""

from __future__ import annotations

import pytest

from controlplane.errors import Conflict
from controlplane.evaluator import CounterSeries, budget_of
from controlplane.model import Activation, ActivationChanged, ActivationState, Slo
from tests.evaluator._fakes import ScriptedSource
from tests.evaluator.test_loop import mesh


def test_increase_reads_each_window_from_the_finest_history_that_reaches_it() -> None:
    series = CounterSeries()
    for t in range(0, 3 * 3600, 10):  # three hours, 10 requests a second, 1% failing
        series.add(float(t), requests=10.0 * t, errors=0.1 * t)
    assert series.increase(300).requests == pytest.approx(3000, rel=0.01)
    assert series.increase(3600).errors == pytest.approx(360, rel=0.02)
    assert series.increase(86400).seconds == pytest.approx(3 * 3600 - 10, abs=60)


def test_budget_remaining_and_burn_rates() -> None:
    series = CounterSeries()
    for t in range(0, 3601, 5):  # an hour at 100 rps, failing 0.5% against a 99.9% SLO
        series.add(float(t), requests=100.0 * t, errors=0.5 * t)
    budget = budget_of("web", Slo(success_rate=99.9, window=86400), series)
    assert budget.allowed_failures == pytest.approx(360, rel=0.01)
    assert budget.remaining == pytest.approx(1 - 1800 / 360, rel=0.01)
    assert budget.exhausted
    one_hour = budget.burn_rates[0]
    assert one_hour.long == pytest.approx(5.0, rel=0.01)
    assert not one_hour.alerting  # 5x is below the 14.4x page
    assert not budget.burn_rates[1].alerting  # and the 6x one
    assert budget.burn_rates[2].alerting  # but over the 1x ticket threshold


def test_too_little_traffic_says_nothing_about_the_budget() -> None:
    series = CounterSeries()
    series.add(0.0, 0.0, 0.0)
    series.add(10.0, 50.0, 50.0)
    assert budget_of("web", Slo(), series).remaining is None


async def burn(source: ScriptedSource, evaluator: object, requests: int, errors: int) -> None:
    source.serve("web--old", requests, errors)
    await evaluator.step()  # type: ignore[attr-defined]


async def test_a_spent_budget_freezes_new_live_traffic_but_never_a_rollback() -> None:
    c, source, evaluator = mesh()
    c.gate_on_budget(evaluator.budget_refusal)
    await evaluator.step()
    await burn(source, evaluator, 10_000, 500)  # 5% failing against 99.9%
    assert evaluator.budget("web").exhausted

    with pytest.raises(Conflict, match="error budget of service 'web' is exhausted"):
        c.change("new", Activation.live(1), actor="ops")
    assert c.state.instances["new"].state is ActivationState.INACTIVE

    override = c.change(
        "new", Activation.live(1), actor="ops", reason="hotfix", budget_override=True
    )
    assert isinstance(override.event, ActivationChanged) and override.event.budget_override
    c.change("new", Activation.inactive(), actor="evaluator", reason="rollback")  # always allowed
    assert c.state.instances["new"].state is ActivationState.INACTIVE
