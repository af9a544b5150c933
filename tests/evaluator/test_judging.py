"""The evaluator with weir's own judge, on scripted stats and a monotonic clock the test turns:
warm-up, no timeouts, re-opened verdicts, deadlines, rollout steps taking old instances out,
and bad data kept to the changes that read it."""

from __future__ import annotations

from typing import Any

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ledger import SqliteStore
from controlplane.model import (
    Activation,
    ActivationChanged,
    ActivationState,
    ArmEvidence,
    Instance,
    Judging,
    Outcome,
    ProposedEntry,
    RolloutDefaults,
    ServiceSpec,
    Slo,
    Verdict,
    VerdictRecorded,
)
from controlplane.rollout import RolloutDriver, plan_for, start
from controlplane.stats import ClusterCounts, Scrape
from controlplane.verdict import extra_failures, judge
from tests.evaluator._fakes import ScriptedSource

SLO = Slo(success_rate=99.0, latency_p99_ms=500)


class Source(ScriptedSource):
    """Scripted stats that can also refuse clusters, as a source does on bad data."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected: dict[str, str] = {}

    async def scrape(self) -> Scrape:
        scrape = await super().scrape()
        return Scrape(scrape.at, scrape.clusters, scrape.reporting, rejected=dict(self.rejected))

    def second(self, **served: tuple[int, int]) -> None:
        """One second of traffic: cluster (without the service) -> (requests, errors)."""
        for name, (requests, errors) in served.items():
            service, instance = name.split("__")
            cluster = f"{service}--{service}-{instance}"  # instance ids are web-old, web-new
            latency = tuple(requests if i == 5 else 0 for i in range(20))  # all 25-50 ms
            self.totals[cluster] = self.totals.get(cluster, ClusterCounts()) + ClusterCounts(
                requests, errors, latency
            )


class Clock:
    """The evaluator's monotonic clock, turned by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def mesh(
    *services: str, warmup: str = "0s", rollout: dict[str, Any] | None = None
) -> tuple[Controller, Source, Evaluator, Clock]:
    """Each service with `old` live at weight 9 and `new` registered, inactive."""
    c = Controller(SqliteStore(":memory:"))
    for service in services or ("web",):
        spec = ServiceSpec(
            name=service,
            slo=SLO,
            verdict=Judging(warmup=warmup),
            rollout=RolloutDefaults(**(rollout or {"steps": (10, 100), "bake": 0, "grace": 0})),
        )
        c.apply_service(spec, actor="ops")
        for n, instance_id in enumerate(("old", "new")):
            c.add_instance(
                Instance(
                    id=f"{service}-{instance_id}",
                    service=service,
                    version=f"v{n}",
                    address=f"10.0.0.{n}:80",
                ),
                actor="ops",
            )
        c.change(f"{service}-old", Activation.live(9), actor="ops")
    source, clock = Source(), Clock()
    evaluator = Evaluator(c, source, judge=judge, extra_failures=extra_failures, clock=clock)
    return c, source, evaluator, clock


async def tick(
    evaluator: Evaluator, clock: Clock, source: Source, **served: tuple[int, int]
) -> None:
    source.second(**served)
    clock.now += 1
    await evaluator.step()


def recorded(c: Controller, instance_id: str) -> list[Verdict]:
    return [
        e.event.verdict
        for e in c.history()
        if isinstance(e.event, VerdictRecorded) and e.event.instance_id == instance_id
    ]


async def test_a_warming_instance_is_failed_only_for_gross_failure_then_judged() -> None:
    c, source, evaluator, clock = mesh(warmup="10s")
    await evaluator.step()
    c.change("web-new", Activation.live(1), actor="ops")
    await tick(evaluator, clock, source)  # the first scrape after the change: its zero
    for _ in range(9):  # 20% failing while it warms up: not gross
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 2))
    assert c.state.instances["web-new"].state is ActivationState.LIVE
    [warming] = [e for e in evaluator.evaluations() if e.instance_id == "web-new"]
    assert warming.verdict is not None and "warming up" in warming.verdict.reason

    for _ in range(40):  # then judged: errors in a service not yet shown to fail one by one
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 2))
        if recorded(c, "web-new"):
            break
    [failed] = recorded(c, "web-new")
    assert failed.outcome is Outcome.FAIL and failed.elapsed_s > 10
    assert c.state.instances["web-new"].activation == Activation.inactive()


async def test_a_gross_failure_is_rolled_back_during_the_warm_up() -> None:
    c, source, evaluator, clock = mesh(warmup="10s")
    await evaluator.step()
    c.change("web-new", Activation.live(1), actor="ops")
    await tick(evaluator, clock, source)
    for _ in range(6):
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 9))
        if recorded(c, "web-new"):
            break
    [failed] = recorded(c, "web-new")
    assert failed.outcome is Outcome.FAIL and "during the warm-up" in failed.reason
    assert failed.elapsed_s < 10


async def test_an_instance_that_served_lately_has_no_warm_up() -> None:
    c, source, evaluator, clock = mesh(warmup="10m")
    await evaluator.step()
    c.change("web-new", Activation.live(1), actor="ops")
    for _ in range(3):
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 0))
    c.change("web-new", Activation.live(3), actor="ops")  # a weight step of a warm instance
    await tick(evaluator, clock, source, web__old=(90, 0), web__new=(30, 0))
    await tick(evaluator, clock, source, web__old=(90, 0), web__new=(30, 0))
    [judged] = [e for e in evaluator.evaluations() if e.instance_id == "web-new"]
    assert judged.verdict is not None and "warming" not in judged.verdict.reason


async def test_no_timeout_and_no_wall_clock_closes_a_change_that_still_stands() -> None:
    c, source, evaluator, clock = mesh()
    await evaluator.step()
    change = c.change("web-new", Activation.live(0), actor="ops")  # weight 0: no traffic
    await tick(evaluator, clock, source)
    source.at += 10 * 86400  # the wall clock jumps ten days ahead
    for _ in range(3):
        clock.now += 3 * 3600  # and hours pass
        await tick(evaluator, clock, source, web__old=(90, 0))
    assert recorded(c, "web-new") == []
    [still] = [e for e in evaluator.evaluations() if e.change_seq == change.seq]
    assert still.verdict is not None and still.verdict.outcome is Outcome.INCONCLUSIVE


async def test_a_change_recorded_inconclusive_is_reopened_and_judged_on() -> None:
    c, source, evaluator, clock = mesh()
    await evaluator.step()
    change = c.change("web-new", Activation.live(1), actor="ops")
    c.submit(  # what an older weir's one-hour timeout recorded
        [
            ProposedEntry(
                actor="evaluator",
                reason="no decision",
                event=VerdictRecorded(
                    change_seq=change.seq,
                    instance_id="web-new",
                    service="web",
                    verdict=Verdict(
                        outcome=Outcome.INCONCLUSIVE,
                        reason="no decision after 1 h",
                        candidate=ArmEvidence(requests=0, errors=0),
                        elapsed_s=3600,
                    ),
                ),
            )
        ]
    )
    await tick(evaluator, clock, source)
    assert [e.change_seq for e in evaluator.evaluations() if e.instance_id == "web-new"] == [
        change.seq
    ]
    for _ in range(30):
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 5))
        if c.state.instances["web-new"].state is ActivationState.INACTIVE:
            break
    assert [v.outcome for v in recorded(c, "web-new")] == [Outcome.INCONCLUSIVE, Outcome.FAIL]
    assert c.state.verdicts[change.seq].outcome is Outcome.FAIL


async def test_bad_counts_hold_only_the_changes_that_read_them() -> None:
    c, source, evaluator, clock = mesh("web", "api")
    await evaluator.step()
    c.change("web-new", Activation.live(1), actor="ops")
    c.change("api-new", Activation.live(1), actor="ops")
    await tick(evaluator, clock, source)
    source.rejected = {"web--web-new": "from prometheus: upstream_rq_2xx is NaN"}
    for _ in range(30):
        await tick(
            evaluator,
            clock,
            source,
            web__old=(90, 0),
            web__new=(10, 0),
            api__old=(90, 0),
            api__new=(10, 5),
        )
    assert c.state.instances["api-new"].state is ActivationState.INACTIVE  # judged, rolled back
    [held] = [e for e in evaluator.evaluations() if e.instance_id == "web-new"]
    assert held.verdict is not None
    assert "the stats source rejected this step's counts of web--web-new: from prometheus: " in (
        held.verdict.reason
    )
    source.rejected = {}
    await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 0))
    [judged] = [e for e in evaluator.evaluations() if e.instance_id == "web-new"]
    assert judged.verdict is not None and "rejected" not in judged.verdict.reason


async def test_counts_the_judge_refuses_hold_only_that_change() -> None:
    c, source, evaluator, clock = mesh("web", "api")
    await evaluator.step()
    c.change("web-new", Activation.live(1), actor="ops")
    c.change("api-new", Activation.live(1), actor="ops")
    await tick(evaluator, clock, source)
    for _ in range(30):
        bad = source.totals.get("web--web-new", ClusterCounts())
        source.totals["web--web-new"] = bad + ClusterCounts(10, 20)  # more 5xx than requests
        await tick(evaluator, clock, source, web__old=(90, 0), api__old=(90, 0), api__new=(10, 5))
    assert c.state.instances["api-new"].state is ActivationState.INACTIVE
    [held] = [e for e in evaluator.evaluations() if e.instance_id == "web-new"]
    assert held.verdict is not None and "unusable" in held.verdict.reason


async def test_an_undecided_rollout_step_is_recorded_at_its_deadline_and_judged_on() -> None:
    c, source, evaluator, clock = mesh(
        rollout={"steps": (10, 100), "bake": 0, "grace": 0, "decide_within": "1m"}
    )
    driver = RolloutDriver(c)
    start(c, "web", "v1", plan_for(c.state.services["web"]), actor="ops")
    await driver.step()
    [change] = c.state.rollouts["web/1"].current.changes  # type: ignore[union-attr]
    await tick(evaluator, clock, source)
    for _ in range(61):
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 0))
    [undecided] = recorded(c, "web-new")
    assert undecided.outcome is Outcome.INCONCLUSIVE
    assert undecided.reason.startswith("no decision within 60 s: inconclusive")
    assert any(e.change_seq == change.seq for e in evaluator.evaluations())  # still judged

    for _ in range(60):
        await tick(evaluator, clock, source, web__old=(90, 0), web__new=(10, 5))
        if len(recorded(c, "web-new")) > 1:
            break
    assert [v.outcome for v in recorded(c, "web-new")] == [Outcome.INCONCLUSIVE, Outcome.FAIL]
    await driver.step()
    assert c.state.rollouts["web/1"].outcome is not None  # rolled back on the late fail


async def test_the_last_step_is_judged_on_the_new_version_against_the_old_ones_record() -> None:
    c, source, evaluator, clock = mesh()
    driver = RolloutDriver(c)
    start(c, "web", "v1", plan_for(c.state.services["web"], steps=(50, 100)), actor="ops")
    await driver.step()  # 50%: web-new live beside web-old
    await tick(evaluator, clock, source)
    for _ in range(300):
        await tick(evaluator, clock, source, web__old=(50, 0), web__new=(50, 0))
        if recorded(c, "web-new"):
            break
    assert [v.outcome for v in recorded(c, "web-new")] == [Outcome.PASS]
    await driver.step()  # 100%: web-old out, web-new alone
    out = c.history()[-1]
    assert isinstance(out.event, ActivationChanged) and out.event.instance_id == "web-old"
    await tick(evaluator, clock, source)
    [step] = [e for e in evaluator.evaluations() if e.change_seq == out.seq]
    assert step.candidates == ("web-new",)

    for _ in range(120):  # the new version now fails 5% of everything
        await tick(evaluator, clock, source, web__new=(100, 5))
        if out.seq in c.state.verdicts:
            break
    failed = c.state.verdicts[out.seq]
    assert failed.outcome is Outcome.FAIL
    assert "the replaced version's 0% (0 of" in failed.reason
    await driver.step()
    assert c.state.rollouts["web/1"].outcome is not None
    assert c.state.instances["web-old"].state is ActivationState.LIVE  # put back
