"""Objectives: the service file refuses what it cannot read, the header parser is bounded, the
judge's four outcomes, the value, and the resources Envoy gets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.model import Objective, ObjectiveOutcome, Risk, ServiceSpec
from controlplane.outcomes import OutcomeCounts
from controlplane.outcomes._header import Malformed, parse_outcome
from controlplane.outcomes._late import LateOutcomes, Refused
from controlplane.stats import ClusterCounts
from controlplane.verdict import judge_objective
from controlplane.verdict._value import value_of

ORDERS: dict[str, Any] = {"name": "orders", "kind": "ratio", "source": {"header": "order"}}


def refused(objective: dict[str, Any]) -> list[tuple[int | str, ...]]:
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.model_validate({"name": "shop", "objectives": [objective]})
    return [e["loc"] for e in caught.value.errors()]


def test_the_service_file_names_the_field_it_refuses() -> None:
    assert refused({**ORDERS, "colour": "red"}) == [("objectives", 0, "colour")]
    assert refused({**ORDERS, "kind": "median"}) == [("objectives", 0, "kind")]
    assert refused({**ORDERS, "tolerance": "120%"}) == [("objectives", 0, "tolerance")]
    assert refused({**ORDERS, "value_per_unit": -1}) == [("objectives", 0, "value_per_unit")]
    assert refused({**ORDERS, "source": {"header": "o", "api": "o"}})[0][:3] == (
        "objectives", 0, "source",
    )  # fmt: skip
    assert refused({**ORDERS, "source": {"promql": "sum(orders_total)"}})[0][:3] == (
        "objectives", 0, "source",
    )  # fmt: skip
    spec = ServiceSpec.model_validate(
        {"name": "shop", "objectives": [{**ORDERS, "tolerance": "2%"}], "cohort": {"cookie": "s"}}
    )
    assert spec.objectives[0].tolerance == 2.0 and spec.cohort is not None


def test_the_outcome_header_is_read_within_its_bounds() -> None:
    assert parse_outcome("order=1; revenue=12.50") == {"order": 1.0, "revenue": 12.5}
    assert parse_outcome("-") == {} and parse_outcome("") == {}
    for bad in (
        "order",
        "order=x",
        "Order=1",
        "order=nan",
        "order=1e12",
        "a=1;" * 9,
        "a=" + "1" * 300,
    ):
        with pytest.raises(Malformed):
            parse_outcome(bad)


def test_four_outcomes_with_the_effect_and_its_interval() -> None:
    objective = Objective.model_validate({**ORDERS, "tolerance": "10%"})
    base = OutcomeCounts(20_000, 10_000)

    def judged(orders: int) -> Any:
        return judge_objective(objective, OutcomeCounts(20_000, orders), base, elapsed_s=60)

    harm, better, same = judged(7_000), judged(13_000), judged(10_000)
    assert harm.outcome is ObjectiveOutcome.HARM and harm.high is not None and harm.high < -0.1
    assert better.outcome is ObjectiveOutcome.IMPROVEMENT and better.low is not None
    assert better.low > 0 and better.reason.startswith("orders/request +30%")
    assert same.outcome is ObjectiveOutcome.PASS
    assert same.low is not None and same.low > -0.1
    early = judge_objective(objective, OutcomeCounts(50, 20), OutcomeCounts(500, 250), elapsed_s=5)
    assert early.outcome is ObjectiveOutcome.INCONCLUSIVE
    lower = Objective.model_validate({**ORDERS, "better": "lower", "tolerance": "10%"})
    assert judge_objective(lower, OutcomeCounts(20_000, 13_000), base, elapsed_s=60).outcome is (
        ObjectiveOutcome.HARM
    )


def test_a_value_per_hour_from_the_effect_the_traffic_and_the_money() -> None:
    objective = Objective.model_validate({**ORDERS, "tolerance": "10%", "value_per_unit": 40})
    evidence = judge_objective(
        objective, OutcomeCounts(20_000, 7_000), OutcomeCounts(20_000, 10_000), elapsed_s=100
    )
    value = value_of(
        Risk(value_per_request=0.01),
        {"orders": 40},
        [evidence],
        ClusterCounts(requests=1000),
        ClusterCounts(requests=1000),
        100.0,
    )
    assert value is not None and value.low is not None and value.high is not None
    # 10 requests/s x 3600 x (0.35 - 0.5) orders/request x 40 = -216,000 an hour
    assert value.per_hour == pytest.approx(-216_000)
    assert value.low < value.per_hour < value.high < 0


def test_late_outcomes_are_idempotent_and_refused_when_nothing_reads_them() -> None:
    from controlplane.model import Activation, Instance, InstanceState, State

    spec = ServiceSpec.model_validate(
        {"name": "shop", "objectives": [{**ORDERS, "source": {"api": "purchase"}}]}
    )
    instance = Instance(id="a", service="shop", version="v1", address="127.0.0.1:1")
    state = State(
        services={"shop": spec},
        instances={"a": InstanceState(instance, Activation.live(1), 1)},
    )
    late = LateOutcomes(max_ids=2)
    assert late.add(state, id="p1", instance="a", key="purchase", value=1.0)
    assert not late.add(state, id="p1", instance="a", key="purchase", value=1.0)
    with pytest.raises(Refused) as caught:
        late.add(state, id="p2", instance="a", key="refund", value=1.0)
    assert caught.value.field == "key"
    with pytest.raises(Refused):
        late.add(state, id="p3", instance="nope", key="purchase", value=1.0)


def test_the_dashboard_timeline_carries_objectives_and_value() -> None:
    from controlplane.api._dashboard_data import _verdict
    from controlplane.model import ArmEvidence, Outcome, ValueEstimate, Verdict

    objective = Objective.model_validate({**ORDERS, "tolerance": "10%"})
    evidence = judge_objective(
        objective, OutcomeCounts(20_000, 7_000), OutcomeCounts(20_000, 10_000), elapsed_s=60
    )
    verdict = Verdict(
        outcome=Outcome.FAIL,
        reason=evidence.reason,
        candidate=ArmEvidence(requests=20_000, errors=0),
        elapsed_s=60,
        objectives=(evidence,),
        value=ValueEstimate(per_hour=-540, low=-700, high=-380, requests_per_s=10),
    )
    shown = _verdict(verdict, final=True, seq=3)
    assert shown.value == "-540.00/h [-700.00, -380.00]"
    [line] = shown.objectives
    assert line.startswith("orders/request \u221230% [\u2212") and line.endswith("] harm")


def test_the_change_verdict_joins_the_objectives_and_the_value_gate() -> None:
    from controlplane.model import ArmEvidence, Outcome, ValueEstimate, Verdict
    from controlplane.verdict._business import with_objectives

    objective = Objective.model_validate({**ORDERS, "tolerance": "10%"})
    base = OutcomeCounts(20_000, 10_000)
    harm, better, same = (
        judge_objective(objective, OutcomeCounts(20_000, k), base, elapsed_s=60)
        for k in (7_000, 13_000, 10_000)
    )
    alone = judge_objective(objective, OutcomeCounts(50, 20), None, elapsed_s=5)
    passed = Verdict(
        outcome=Outcome.PASS,
        reason="pass: 5xx fine",
        candidate=ArmEvidence(requests=20_000, errors=0),
        elapsed_s=60,
    )
    up = ValueEstimate(per_hour=10, low=1, high=20, requests_per_s=1)
    unsure = ValueEstimate(per_hour=10, low=-5, high=20, requests_per_s=1)
    assert with_objectives(passed, [harm], None).outcome is Outcome.FAIL
    assert with_objectives(passed, [better], up).outcome is Outcome.IMPROVEMENT
    assert with_objectives(passed, [same], up).outcome is Outcome.PASS
    pending = judge_objective(objective, OutcomeCounts(50, 20), base, elapsed_s=5)
    assert with_objectives(passed, [pending], up).outcome is Outcome.INCONCLUSIVE
    # an objective without a baseline to compare with holds nothing up
    assert with_objectives(passed, [alone], up).outcome is Outcome.PASS
    # the opt-in value gate: a pass waits until the value's lower bound reaches 0
    gated = with_objectives(passed, [same], unsure, value_gate=True)
    assert gated.outcome is Outcome.INCONCLUSIVE and "value gate" in gated.reason
    assert with_objectives(passed, [same], up, value_gate=True).outcome is Outcome.PASS
