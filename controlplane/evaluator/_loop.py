"""The evaluator: every second, read the stats, judge each change still open, act on verdicts.

Fetching (a StatsSource), judging (pure functions of the counts, `controlplane.verdict`) and
acting (through the controller, like any operator, as actor `evaluator`) are separate steps.
A change is open from the first scrape after it until its verdict is pass or fail, or until
the instance changes again; however long that takes, a change is never closed while it still
stands (no timeout, and every duration is read from a monotonic clock, so a jump of the wall
clock changes nothing). Each scrape adds one interval to every open change's evidence: what
the changed instance and its baseline (the service's other live instances) served since the
scrape before.

Also judged: a rollout step that only takes replaced instances out of traffic (the last steps
of a canary), on the new version's instances; when it leaves no baseline, against the replaced
version's own record. A step still inconclusive at its plan's `decide_within` has that verdict
recorded (the rollout waits there, or goes on with accept_risk) and stays open: a later pass or
fail is recorded too, and a failure still rolls the rollout back.

Bad data stays where it is: counts a source rejected, or that the judge refuses, make only the
changes that read them inconclusive for that step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from controlplane.control import Controller
from controlplane.errors import WeirError
from controlplane.evaluator._budget import Budget, budget_of
from controlplane.evaluator._recent import RecentCounts, Sample
from controlplane.evaluator._series import CounterSeries
from controlplane.model import (
    Activation,
    ActivationState,
    ArmEvidence,
    Outcome,
    ProposedEntry,
    ServiceSpec,
    State,
    Verdict,
    VerdictRecorded,
    say_duration,
)
from controlplane.rollout import step_evaluations
from controlplane.stats import ClusterCounts, Scrape, SourceUnavailable
from controlplane.verdict import Dispersions, Evidence, InvalidCounts, Traffic, VerdictPolicy

log = logging.getLogger(__name__)

ACTOR = "evaluator"
DEFAULT_INTERVAL_S = 1.0
JUDGED_STATES = (ActivationState.LIVE, ActivationState.SHADOW)
WARM_LOOKBACK_S = 60.0
"""An instance that served requests within this long before its change needs no warm-up."""
MAX_INTERVAL_S = 60.0
TRAFFIC_WINDOW_S = 300.0
TRAFFIC_MIN_S = 30.0
TRAFFIC_MIN_REQUESTS = 100
"""An interval longer than this (the loop stalled) counts as this long."""


class StatsSource(Protocol):
    async def scrape(self) -> Scrape: ...


class Judge(Protocol):
    def __call__(self, evidence: Evidence, *, elapsed_s: float) -> Verdict: ...


ExtraFailures = Callable[[ClusterCounts, ClusterCounts | None], float]


class SplitResult(Protocol):
    @property
    def mismatch(self) -> bool: ...
    @property
    def reason(self) -> str: ...


SplitCheck = Callable[[Mapping[str, int], Mapping[str, float]], SplitResult]
"""Observed requests per live instance, and the shares asked for → whether they differ."""


@dataclass(slots=True)
class _SplitWindow:
    """Counts since the service's live weights last changed: only then is the ask fixed."""

    weights: tuple[tuple[str, int], ...]
    start: Mapping[str, ClusterCounts]


@dataclass(slots=True)
class Evaluation:
    """One open change: what it is judged against, and the latest verdict on it."""

    change_seq: int
    instance_id: str
    service: str
    opened_at: float
    """When it opened, on the evaluator's monotonic clock."""
    candidates: tuple[str, ...] = ()
    """A rollout step taking `instance_id` out: the new version's instances judged instead."""
    decide_within_s: float | None = None
    """A rollout's change: when its inconclusive verdict is recorded."""
    evidence: Evidence | None = None
    """None until the first scrape after the change: the zero of its evidence."""
    verdict: Verdict | None = None
    deadline_recorded: bool = False
    rolled_back: bool = field(default=False)

    @property
    def judged(self) -> tuple[str, ...]:
        """The instances whose counts are the candidate's."""
        return self.candidates or (self.instance_id,)


class Evaluator:
    def __init__(
        self,
        controller: Controller,
        source: StatsSource,
        *,
        judge: Judge,
        extra_failures: ExtraFailures,
        split_check: SplitCheck | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        recent: RecentCounts | None = None,
    ) -> None:
        """`recent` keeps each instance's counts over the last minutes (for the dashboard);
        `clock` is monotonic: every duration the evaluator judges by is read from it."""
        self._controller = controller
        self._source = source
        self._judge = judge
        self._extra_failures = extra_failures
        self._split_check = split_check
        self._split_windows: dict[str, _SplitWindow] = {}
        self.splits: dict[str, SplitResult] = {}
        """Per service with two or more live instances: does Envoy split as weir asked?"""
        self._interval_s = interval_s
        self._clock = clock
        self._open: dict[int, Evaluation] = {}
        self._previous: tuple[float, Mapping[str, ClusterCounts]] | None = None
        """The last scrape's time (monotonic) and counts: each interval's start."""
        self._dispersions: dict[str, Dispersions] = {}
        """Per service, how its events come, from every scrape: a new change's prior."""
        self._live_since: dict[str, tuple[int, ClusterCounts]] = {}
        """Per live instance: its change and its counts when first seen live, for the record
        of a replaced version."""
        self._series: dict[str, CounterSeries] = {}
        self.recent = recent or RecentCounts()
        self.source_error: str | None = None

    # What the API shows.

    def evaluations(self) -> list[Evaluation]:
        return sorted(self._open.values(), key=lambda e: e.change_seq)

    def budget(self, service: str) -> Budget:
        spec = self._controller.state.services[service]
        return budget_of(service, spec.slo, self._series.setdefault(service, CounterSeries()))

    def recent_counts(self, instance_id: str, *, since: float | None = None) -> list[Sample]:
        """The instance's cumulative counts over the last minutes, oldest first."""
        return self.recent.samples(instance_id, since=since)

    def traffic(self, service: str) -> Traffic | None:
        """The service's live traffic over the last minutes, or None while too little is known
        to forecast anything by (what `weir rollout start` forecasts its steps at)."""
        if service not in self._controller.state.services:
            return None
        seen = self._series.setdefault(service, CounterSeries()).increase(TRAFFIC_WINDOW_S)
        if seen.seconds < TRAFFIC_MIN_S or seen.requests < TRAFFIC_MIN_REQUESTS:
            return None
        return Traffic(seen.requests / seen.seconds, seen.errors / seen.requests)

    def budget_refusal(self, service: str) -> str | None:
        """Why new live traffic must wait for this service, or None. The controller's gate."""
        if service not in self._controller.state.services:
            return None
        budget = self.budget(service)
        if not budget.exhausted:
            return None
        return (
            f"the error budget of service {service!r} is exhausted ({budget.errors:.0f} failed "
            f"of {budget.requests:.0f} requests against an SLO of {budget.success_rate:g}%): "
            "new live activations are frozen; deactivations and rollbacks still work, and "
            "--override-budget proceeds anyway (recorded)"
        )

    # The loop.

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.step()
            except Exception:  # one bad tick must not end evaluation for good
                log.exception("evaluator step failed")
            await asyncio.sleep(max(0.0, self._interval_s - (time.monotonic() - started)))

    async def watch(self, following: Callable[[], bool]) -> None:
        """While `following()` (a replica that does not lead), take steps that neither record
        nor act: the replica's API and dashboard show the fleet's budget and open verdicts as
        the leader sees them, from the same shared stats, and a replica that comes to lead
        starts with its series warm. The leader's own `run()` records and acts."""
        while True:
            started = time.monotonic()
            if following():
                try:
                    await self.step(record=False)
                except Exception:
                    log.exception("evaluator step failed")
            await asyncio.sleep(max(0.0, self._interval_s - (time.monotonic() - started)))

    async def step(self, *, record: bool = True) -> None:
        """Read the stats, track budgets and splits, judge the open changes; with `record`,
        append the final verdicts and act on them."""
        state = self._controller.state
        now = self._clock()
        superseded = self._open_changes(state, now)
        try:
            scrape = await self._source.scrape()
            if scrape.reporting == 0:
                raise SourceUnavailable("no proxy has reported stats")
        except SourceUnavailable as exc:
            self.source_error = str(exc)
            self._all_inconclusive(now, f"stats unavailable: {exc}")
            if record:
                await self._record(superseded)
            return
        self.source_error = None
        self._track_budgets(state, scrape)
        self._track_instances(state, scrape)
        self._check_splits(state, scrape)
        previous, self._previous = self._previous, (now, scrape.clusters)
        seconds = min(max(now - previous[0], 0.0), MAX_INTERVAL_S) if previous else 0.0
        if previous is not None:
            self._track_dispersions(state, scrape, previous[1], seconds)
        decided, deadline = [], []
        for evaluation in list(self._open.values()):
            if not self._judge_safely(state, evaluation, scrape, previous, seconds, now):
                continue
            if (
                evaluation.verdict is not None
                and evaluation.verdict.outcome is Outcome.INCONCLUSIVE
            ):
                deadline.append(evaluation)  # recorded, and still open
            else:
                decided.append(evaluation)
        self._note_live(state, scrape)
        if not record:
            return  # decided ones stay open: the leader's verdict in the ledger closes them
        for evaluation in decided:
            del self._open[evaluation.change_seq]
        await self._record(superseded + decided + deadline)

    def _open_changes(self, state: State, now: float) -> list[Evaluation]:
        """Open an evaluation for each judged change not yet open or decided (a change whose
        recorded verdict is inconclusive is judged on: it still stands); close (and return)
        those whose instance has since changed again."""
        current: dict[int, Evaluation] = {}
        for record in state.instances.values():
            if record.state in JUDGED_STATES:
                current[record.since_seq] = Evaluation(
                    record.since_seq, record.instance.id, record.instance.service, opened_at=now
                )
        for step in step_evaluations(state):
            current[step.change_seq] = Evaluation(
                step.change_seq,
                step.instance_id,
                step.service,
                opened_at=now,
                candidates=step.candidates,
            )
        superseded = [e for seq, e in self._open.items() if seq not in current]
        for evaluation in superseded:
            del self._open[evaluation.change_seq]
        for seq in [seq for seq in self._open if _decided(state, seq)]:
            del self._open[seq]  # another replica (the leader) recorded its verdict
        for seq, evaluation in current.items():
            if seq in self._open or _decided(state, seq):
                continue
            evaluation.decide_within_s = _decide_within(state, seq)
            if seq in state.verdicts:  # re-opened: its deadline has been recorded already
                evaluation.deadline_recorded = True
            self._open[seq] = evaluation
        return [e for e in superseded if e.verdict is not None]

    def _track_budgets(self, state: State, scrape: Scrape) -> None:
        for service in state.services:
            total = ClusterCounts()
            for record in state.instances_of(service):
                if record.state is ActivationState.LIVE:
                    total = total + scrape.clusters.get(
                        record.instance.cluster_name, ClusterCounts()
                    )
            self._series.setdefault(service, CounterSeries()).add(
                scrape.at, total.requests, total.errors
            )

    def _track_instances(self, state: State, scrape: Scrape) -> None:
        self.recent.add(
            scrape.at,
            {
                record.instance.id: scrape.clusters.get(
                    record.instance.cluster_name, ClusterCounts()
                )
                for record in state.instances.values()
                if record.state is not ActivationState.RETIRED
            },
        )

    def _check_splits(self, state: State, scrape: Scrape) -> None:
        if self._split_check is None:
            return
        for service in state.services:
            live = state.live_of(service)
            weights = tuple(sorted((i.instance.id, i.activation.weight or 0) for i in live))
            window = self._split_windows.get(service)
            if len(live) < 2:
                self._split_windows.pop(service, None)
                self.splits.pop(service, None)
                continue
            if window is None or window.weights != weights:
                self._split_windows[service] = _SplitWindow(weights, dict(scrape.clusters))
                self.splits.pop(service, None)
                continue
            since = _since(scrape.clusters, window.start)
            observed = {
                i.instance.id: since.get(i.instance.cluster_name, ClusterCounts()).requests
                for i in live
            }
            result = self._split_check(observed, dict(weights))
            if result.mismatch and not getattr(self.splits.get(service), "mismatch", False):
                log.warning(
                    "service %s: the proxies do not split as asked: %s", service, result.reason
                )
            self.splits[service] = result

    def _judge_safely(
        self,
        state: State,
        evaluation: Evaluation,
        scrape: Scrape,
        previous: tuple[float, Mapping[str, ClusterCounts]] | None,
        seconds: float,
        now: float,
    ) -> bool:
        """Judge one open change; True when its verdict is to be recorded now. Counts that the
        source or the judge refuse make this change inconclusive, and no other."""
        try:
            return self._judge_one(state, evaluation, scrape, previous, seconds, now)
        except InvalidCounts as exc:
            why = f"the stats of this change are unusable: {exc.message}"
        except Exception as exc:  # one change's trouble must not stop the others'
            log.exception("judging change %d failed", evaluation.change_seq)
            why = f"the evaluator could not judge this change: {exc!r}"
        self._inconclusive(evaluation, now, f"inconclusive: {why}")
        return False

    def _judge_one(
        self,
        state: State,
        evaluation: Evaluation,
        scrape: Scrape,
        previous: tuple[float, Mapping[str, ClusterCounts]] | None,
        seconds: float,
        now: float,
    ) -> bool:
        spec = state.services[evaluation.service]
        if evaluation.evidence is None:
            evaluation.evidence = self._start(state, spec, evaluation, scrape, previous)
            return False
        assert previous is not None
        judged = set(evaluation.judged)
        names = [state.instances[i].instance.cluster_name for i in evaluation.judged]
        others = [
            other.instance.cluster_name
            for other in state.live_of(evaluation.service)
            if other.instance.id not in judged
        ]
        rejected = [n for n in (*names, *others) if n in scrape.rejected]
        if rejected:
            reasons = "; ".join(f"{n}: {scrape.rejected[n]}" for n in rejected)
            self._inconclusive(
                evaluation,
                now,
                f"inconclusive: the stats source rejected this step's counts of {reasons}",
            )
            return False
        candidate = _interval(scrape.clusters, previous[1], names)
        baseline = _interval(scrape.clusters, previous[1], others) if others else None
        evidence = evaluation.evidence.add(candidate, baseline, seconds)
        evaluation.evidence = evidence
        verdict = self._judge(evidence, elapsed_s=now - evaluation.opened_at)
        extra = self._extra_failures(evidence.served, evidence.served_baseline)
        evaluation.verdict = verdict.model_copy(
            update={"extra_failures": extra, "cost": extra * spec.risk.cost_per_failed_request}
        )
        if evaluation.verdict.outcome is not Outcome.INCONCLUSIVE:
            return True
        due = evaluation.decide_within_s
        if (
            due is not None
            and not evaluation.deadline_recorded
            and now - evaluation.opened_at >= due
        ):
            evaluation.deadline_recorded = True
            evaluation.verdict = evaluation.verdict.model_copy(
                update={"reason": f"no decision within {say_duration(due)}: {verdict.reason}"}
            )
            return True
        return False

    def _start(
        self,
        state: State,
        spec: ServiceSpec,
        evaluation: Evaluation,
        scrape: Scrape,
        previous: tuple[float, Mapping[str, ClusterCounts]] | None,
    ) -> Evidence:
        """A change's evidence at its first scrape: the service's dispersion so far, the warm-up
        when the instance had served nothing lately, and for a step taking a replaced instance
        out, that instance's record since it went live."""
        policy = VerdictPolicy(tolerance=spec.verdict.tolerance, warmup_s=spec.verdict.warmup)
        reference = None
        if evaluation.candidates and previous is not None:
            record = state.instances[evaluation.instance_id]
            last = previous[1].get(record.instance.cluster_name)
            since = self._live_since.get(evaluation.instance_id)
            if last is not None:
                reference = last - since[1] if since else last
        warmup = not evaluation.candidates and not self._served_lately(
            evaluation.instance_id, scrape.at
        )
        return Evidence.start(
            spec.slo,
            policy,
            prior=self._dispersions.get(evaluation.service),
            reference=reference,
            warmup=warmup,
        )

    def _served_lately(self, instance_id: str, at: float) -> bool:
        """Whether the instance served requests in the minute before the scrape at `at` (what
        it served since the scrape before is its new traffic, not its past)."""
        samples = self.recent.samples(instance_id, since=at - WARM_LOOKBACK_S)
        before = [s for s in samples if s.at < at]
        return len(before) >= 2 and before[-1].counts.requests > before[0].counts.requests

    def _track_dispersions(
        self,
        state: State,
        scrape: Scrape,
        previous: Mapping[str, ClusterCounts],
        seconds: float,
    ) -> None:
        """How each service's events come, from all its live instances' interval counts."""
        for service, spec in state.services.items():
            names = [
                r.instance.cluster_name
                for r in state.live_of(service)
                if r.instance.cluster_name not in scrape.rejected
            ]
            dispersions = self._dispersions.get(service)
            if dispersions is None or dispersions.slo_ms != spec.slo.latency_p99_ms:
                dispersions = Dispersions.of(spec.slo)
            if names and seconds > 0:
                try:
                    interval = _interval(scrape.clusters, previous, names)
                    dispersions = dispersions.add(interval, seconds)
                except (ValueError, TypeError):  # counts no source should give: judged apart
                    log.warning("service %s: unusable counts left out of its dispersion", service)
            self._dispersions[service] = dispersions
        for gone in self._dispersions.keys() - state.services.keys():
            del self._dispersions[gone]

    def _note_live(self, state: State, scrape: Scrape) -> None:
        """Remember each live instance's counts when first seen live since its change."""
        live = {
            r.instance.id: r for r in state.instances.values() if r.state is ActivationState.LIVE
        }
        for instance_id in self._live_since.keys() - live.keys():
            del self._live_since[instance_id]
        for instance_id, record in live.items():
            kept = self._live_since.get(instance_id)
            if kept is None or kept[0] != record.since_seq:
                counts = scrape.clusters.get(record.instance.cluster_name, ClusterCounts())
                self._live_since[instance_id] = (record.since_seq, counts)

    def _inconclusive(self, evaluation: Evaluation, now: float, reason: str) -> None:
        counts = (
            evaluation.verdict.candidate
            if evaluation.verdict
            else ArmEvidence(requests=0, errors=0)
        )
        evaluation.verdict = Verdict(
            outcome=Outcome.INCONCLUSIVE,
            reason=reason,
            candidate=counts,
            elapsed_s=max(0.0, now - evaluation.opened_at),
        )

    def _all_inconclusive(self, now: float, reason: str) -> None:
        for evaluation in self._open.values():
            self._inconclusive(evaluation, now, reason)

    async def _record(self, finished: list[Evaluation]) -> None:
        for evaluation in finished:
            assert evaluation.verdict is not None
            verdict = evaluation.verdict
            entry = ProposedEntry(
                actor=ACTOR,
                reason=verdict.reason[:1024],
                event=VerdictRecorded(
                    change_seq=evaluation.change_seq,
                    instance_id=evaluation.instance_id,
                    service=evaluation.service,
                    verdict=verdict,
                ),
            )
            try:
                await asyncio.to_thread(self._controller.submit, [entry])
            except WeirError as exc:
                log.warning("verdict on change %d not recorded: %s", evaluation.change_seq, exc)
                continue
            if verdict.outcome is Outcome.FAIL and not evaluation.candidates:
                await self._roll_back(evaluation, verdict)
            # a failed rollout step taking replaced instances out is undone by its rollout

    async def _roll_back(self, evaluation: Evaluation, verdict: Verdict) -> None:
        spec = self._controller.state.services[evaluation.service]
        if not spec.rollout.auto_rollback:
            log.warning(
                "change %d failed; auto_rollback is off for %s",
                evaluation.change_seq,
                evaluation.service,
            )
            return
        record = self._controller.state.instances[evaluation.instance_id]
        if record.since_seq != evaluation.change_seq:
            return  # the instance moved on meanwhile: nothing of this change left to undo
        reason = f"rollback: change {evaluation.change_seq} failed its verdict: {verdict.reason}"
        try:
            await asyncio.to_thread(
                self._controller.change,
                evaluation.instance_id,
                Activation.inactive(),
                actor=ACTOR,
                reason=reason,
            )
            evaluation.rolled_back = True
        except WeirError as exc:
            log.error("could not roll back %s: %s", evaluation.instance_id, exc)


def _since(
    now: Mapping[str, ClusterCounts], start: Mapping[str, ClusterCounts]
) -> dict[str, ClusterCounts]:
    return {name: counts - start.get(name, ClusterCounts()) for name, counts in now.items()}


def _interval(
    now: Mapping[str, ClusterCounts], before: Mapping[str, ClusterCounts], names: list[str]
) -> ClusterCounts:
    """What the named clusters served between two scrapes, summed."""
    total = ClusterCounts()
    for name in names:
        counts = now.get(name)
        if counts is not None:
            total = total + (counts - before.get(name, ClusterCounts()))
    return total


def _decided(state: State, seq: int) -> bool:
    verdict = state.verdicts.get(seq)
    return verdict is not None and verdict.outcome is not Outcome.INCONCLUSIVE


def _decide_within(state: State, seq: int) -> float | None:
    """A rollout's change: its plan's decide_within (None for an operator's own change)."""
    for rollout in state.rollouts.values():
        if rollout.active and seq in rollout.change_seqs:
            return rollout.plan.decide_within
    return None
