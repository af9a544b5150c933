"""Changes verified by comparing answers: the evaluator takes their verdict from the
comparisons (not from Envoy's stats, which a compared shadow has none of), records it and rolls
a failed one back like any other, even while the stats are unavailable."""

from __future__ import annotations

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ledger import SqliteStore
from controlplane.model import (
    Activation,
    ActivationChanged,
    ArmEvidence,
    Compare,
    Instance,
    Outcome,
    ServiceSpec,
    Verdict,
    VerdictRecorded,
)
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge


class ScriptedComparisons:
    """Judges the instance `compared` by the outcome the test sets; others are not compared."""

    def __init__(self, compared: str) -> None:
        self.compared = compared
        self.outcome = Outcome.INCONCLUSIVE

    def verdict(self, change_seq: int, instance_id: str, *, elapsed_s: float) -> Verdict | None:
        if instance_id != self.compared:
            return None
        return Verdict(
            outcome=self.outcome,
            reason=f"compared: {self.outcome.value}",
            candidate=ArmEvidence(requests=0, errors=0),
            elapsed_s=elapsed_s,
        )


def mesh(
    compare: Compare | None = None,
) -> tuple[Controller, ScriptedSource, ScriptedComparisons, Evaluator]:
    c = Controller(SqliteStore(":memory:"))
    c.apply_service(ServiceSpec(name="web", compare=compare), actor="ops")
    for n, instance_id in enumerate(("old", "new")):
        instance = Instance(
            id=instance_id, service="web", version=f"v{n}", address=f"10.0.0.{n}:80"
        )
        c.add_instance(instance, actor="ops")
    c.change("old", Activation.live(9), actor="ops")
    source, comparisons = ScriptedSource(), ScriptedComparisons("new")
    evaluator = Evaluator(
        c, source, judge=rate_judge, extra_failures=extra_failures, comparisons=comparisons
    )
    return c, source, comparisons, evaluator


async def test_a_failed_comparison_is_recorded_and_rolled_back_without_stats() -> None:
    c, source, comparisons, evaluator = mesh()
    change = c.change("new", Activation.shadow(100), actor="ops")
    source.down = True
    await evaluator.step()
    [evaluation] = [e for e in evaluator.evaluations() if e.instance_id == "new"]
    assert evaluation.verdict is not None and evaluation.verdict.reason == "compared: inconclusive"

    comparisons.outcome = Outcome.FAIL
    await evaluator.step()

    [recorded] = [
        e.event
        for e in c.history()
        if isinstance(e.event, VerdictRecorded) and e.event.instance_id == "new"
    ]
    assert recorded.change_seq == change.seq and recorded.verdict.outcome is Outcome.FAIL
    last = c.history()[-1]
    assert last.actor == "evaluator" and isinstance(last.event, ActivationChanged)
    assert last.event.instance_id == "new" and last.event.after == Activation.inactive()


async def test_other_changes_are_still_judged_by_the_stats() -> None:
    c, source, _, evaluator = mesh()
    c.change("new", Activation.shadow(100), actor="ops")
    await evaluator.step()
    source.serve("web--old", 900, 1)
    await evaluator.step()
    old = [e for e in evaluator.evaluations() if e.instance_id == "old"]
    assert not old  # old's change passed on its stats (900 requests) and was recorded
    assert any(
        isinstance(e.event, VerdictRecorded)
        and e.event.instance_id == "old"
        and e.event.verdict.outcome is Outcome.PASS
        for e in c.history()
    )


async def test_with_stats_the_comparison_stands_over_them_and_is_judged_every_tick() -> None:
    c, source, comparisons, evaluator = mesh(Compare())
    change = c.change("new", Activation.shadow(100), actor="ops")
    await evaluator.step()  # the change's first scrape: the zero of its evidence
    source.serve("web--new", 200)  # the stats alone would pass it
    await evaluator.step()
    [evaluation] = [e for e in evaluator.evaluations() if e.instance_id == "new"]
    assert evaluation.verdict is not None and evaluation.verdict.reason == "compared: inconclusive"

    comparisons.outcome = Outcome.FAIL  # nothing of the service moves meanwhile
    await evaluator.step()

    verdicts = [e.event for e in c.history() if isinstance(e.event, VerdictRecorded)]
    assert [(v.change_seq, v.verdict.outcome) for v in verdicts if v.instance_id == "new"] == [
        (change.seq, Outcome.FAIL)
    ]
    assert c.state.instances["new"].activation == Activation.inactive()
