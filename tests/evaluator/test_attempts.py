"""Evidence per attempt, cost per caller: a change is judged on every attempt its instance
served (a retry hides a failure from the caller, not from the evidence) and costed on what
callers finally got; a shadow's failures reach no caller and cost nothing."""

from __future__ import annotations

import pytest

from controlplane.model import Activation, ActivationState, ArmEvidence, Outcome
from controlplane.stats import ClusterCounts
from tests.evaluator.test_loop import mesh, verdicts


async def test_a_canary_whose_failures_envoy_retries_is_judged_on_every_attempt() -> None:
    c, source, evaluator = mesh()
    c.change("new", Activation.live(1), actor="ops")
    await evaluator.step()
    source.serve("web--old", 900, 0)
    # 100 requests to new made 142 attempts: 40 answered 5xx and retried, 2 reset and
    # retried; its callers got 3 failures
    source.totals["web--new"] = ClusterCounts(100, 3, retried=40, retried_errors=40, retries=42)
    await evaluator.step()

    [recorded] = [v.verdict for v in verdicts(c) if v.instance_id == "new"]
    assert recorded.outcome is Outcome.FAIL
    assert recorded.candidate.requests == 142 and recorded.candidate.errors == 45
    assert recorded.callers == ArmEvidence(requests=100, errors=3, error_rate=0.03)
    assert recorded.extra_failures == pytest.approx(3)  # against old's 0%, as callers got it
    assert recorded.cost == pytest.approx(3 * 0.5)
    assert c.state.instances["new"].state is ActivationState.INACTIVE


async def test_a_failing_shadow_is_rolled_back_at_no_cost() -> None:
    c, source, evaluator = mesh()
    c.change("new", Activation.shadow(50), actor="ops")
    await evaluator.step()
    source.serve("web--old", 1000, 1)
    source.serve("web--new", 500, 150)
    await evaluator.step()

    [recorded] = [v.verdict for v in verdicts(c) if v.instance_id == "new"]
    assert recorded.outcome is Outcome.FAIL and recorded.candidate.errors == 150
    assert recorded.callers is None
    assert recorded.extra_failures == 0 and recorded.cost == 0
    assert evaluator.budget("web").errors == 1  # old's: the mirrored failures are not callers'
