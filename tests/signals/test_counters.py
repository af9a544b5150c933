"""The ledger's counters on /metrics, folded from real ledger entries: verdicts by outcome,
rollbacks by kind, the value and cost per judged change; and the open verdicts' e-values."""

from __future__ import annotations

from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.api._signals import SignalsCollector
from controlplane.control import Controller
from controlplane.evaluator import Evaluation, Evaluator
from controlplane.evaluator._budget import budget_of
from controlplane.evaluator._series import CounterSeries
from controlplane.model import ArmEvidence, Outcome, Risk, ServiceSpec, Verdict
from controlplane.rollout import RolloutDriver, abort, undo
from controlplane.xds import ProxyRegistry
from tests.rollout._world import Clock, begin, drive, judge, verdict, world


class FakeEvaluator:
    """What the collector asks of the evaluator: its open evaluations and each budget."""

    def __init__(self, controller: Controller, open_: list[Evaluation]) -> None:
        self._controller = controller
        self._open = open_

    def evaluations(self) -> list[Evaluation]:
        return self._open

    def budget(self, service: str) -> Any:
        spec = self._controller.state.services[service]
        return budget_of(service, spec.slo, CounterSeries())


def samples(controller: Controller, evaluator: object = None) -> dict[tuple[str, str], float]:
    registry = CollectorRegistry()
    registry.register(
        SignalsCollector(controller, ProxyRegistry(), cast(Evaluator | None, evaluator))
    )
    text = generate_latest(registry).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[sample.name, labels] = sample.value
    return found


async def test_rollbacks_are_counted_by_kind_and_start_at_zero() -> None:
    c = world(grace="5m")
    assert samples(c)["weir_rollbacks_total", "kind=verdict,service=web"] == 0
    driver = RolloutDriver(c, clock=Clock())

    begin(c)
    await driver.step()
    judge(c, Outcome.FAIL)  # the evaluator's rollback of the failing instance
    await driver.step()  # the rollout rolls itself back
    begin(c)
    await driver.step()
    abort(c, "web", actor="bob")
    begin(c)
    await drive(driver, c)
    undo(c, "web", actor="bob")

    counted = samples(c)
    assert {kind: counted["weir_rollbacks_total", f"kind={kind},service=web"] for kind in (
        "verdict", "rollout", "abort", "undo"
    )} == {"verdict": 1, "rollout": 1, "abort": 1, "undo": 1}  # fmt: skip
    assert counted["weir_rollouts_finished_total", "outcome=completed,service=web"] == 1
    assert counted["weir_verdicts_total", "outcome=fail,service=web"] == 1
    assert counted["weir_rollout_state", "rollout=web/3,service=web,state=completed"] == 1


def test_value_and_cost_per_judged_change() -> None:
    c = world()
    spec = c.state.services["web"]
    risk = Risk(cost_per_failed_request=0.5, value_per_request=0.01)
    c.apply_service(ServiceSpec(**{**spec.model_dump(), "risk": risk}), actor="ops")
    entry = c.change("c", c.state.instances["c"].activation.live(1), actor="ops")
    verdict(c, entry.seq, Outcome.PASS)  # 100 requests, 0 errors: value 1.0, cost 0

    counted = samples(c)

    assert counted["weir_change_value_count", "service=web"] == 1
    assert counted["weir_change_value_sum", "service=web"] == 1.0
    assert counted["weir_change_cost_sum", "service=web"] == 0.0


def test_open_verdicts_show_their_e_values_against_the_threshold() -> None:
    c = world()
    entry = c.change("c", c.state.instances["c"].activation.live(1), actor="ops")
    judging = Evaluation(entry.seq, "c", "web", opened_at=0.0)
    judging.verdict = Verdict(
        outcome=Outcome.INCONCLUSIVE,
        reason="so far",
        candidate=ArmEvidence(requests=40, errors=2),
        error_e_value=7.5,
        latency_e_value=0.4,
        threshold=100.0,
        elapsed_s=3.0,
    )

    counted = samples(c, FakeEvaluator(c, [judging]))

    key = f"change={entry.seq},instance=c,service=web"
    assert counted["weir_verdict_e_value", f"{key},test=error"] == 7.5
    assert counted["weir_verdict_e_value", f"{key},test=latency"] == 0.4
    assert counted["weir_verdict_e_value_threshold", key] == 100.0
    assert counted["weir_verdicts_open", "outcome=inconclusive,service=web"] == 1
    assert counted["weir_slo_success_ratio", "service=web"] == pytest.approx(0.999)
    assert counted["weir_error_budget_frozen", "service=web"] == 0
