"""The evaluator: every second, read the stats, judge each change still open, act on verdicts.

Fetching (a StatsSource), judging (a pure function of the counts) and acting (through the
controller, like any operator, as actor `evaluator`) are three separate steps. A change is
open from the first scrape after it until its verdict is pass or fail, until the instance
changes again, or until `max_watch_s` passes; its final verdict is appended to the ledger.
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
from controlplane.evaluator._business import BusinessJudge
from controlplane.evaluator._recent import RecentCounts, Sample
from controlplane.evaluator._series import CounterSeries
from controlplane.model import (
    Activation,
    ActivationState,
    ArmEvidence,
    Outcome,
    ProposedEntry,
    Slo,
    State,
    Verdict,
    VerdictRecorded,
)
from controlplane.stats import ClusterCounts, Scrape, SourceUnavailable

log = logging.getLogger(__name__)

ACTOR = "evaluator"
DEFAULT_INTERVAL_S = 1.0
DEFAULT_MAX_WATCH_S = 3600.0
JUDGED_STATES = (ActivationState.LIVE, ActivationState.SHADOW)


class StatsSource(Protocol):
    async def scrape(self) -> Scrape: ...


class Judge(Protocol):
    def __call__(
        self,
        candidate: ClusterCounts,
        baseline: ClusterCounts | None,
        *,
        slo: Slo,
        elapsed_s: float,
    ) -> Verdict: ...


ExtraFailures = Callable[[ClusterCounts, ClusterCounts | None], float]


class SplitResult(Protocol):
    @property
    def mismatch(self) -> bool: ...
    @property
    def reason(self) -> str: ...


SplitCheck = Callable[[Mapping[str, int], Mapping[str, float]], SplitResult]
"""Observed requests per live instance, and the shares asked for → whether they differ."""


class Comparisons(Protocol):
    """Changes judged by comparing answers rather than by Envoy's stats (controlplane.compare):
    their verdict, or None for a change that is not."""

    def verdict(self, change_seq: int, instance_id: str, *, elapsed_s: float) -> Verdict | None: ...


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
    start: Mapping[str, ClusterCounts] | None = None
    """Cumulative counts at the first scrape after the change: the zero of its evidence."""
    verdict: Verdict | None = None
    rolled_back: bool = field(default=False)


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
        max_watch_s: float = DEFAULT_MAX_WATCH_S,
        clock: Callable[[], float] = time.time,
        recent: RecentCounts | None = None,
        business: BusinessJudge | None = None,
        comparisons: Comparisons | None = None,
    ) -> None:
        """`recent` keeps each instance's counts over the last minutes (for the dashboard);
        `business` judges the services' objectives and values each change; `comparisons`
        judges the changes verified by comparing answers."""
        self._controller = controller
        self._source = source
        self._judge = judge
        self._extra_failures = extra_failures
        self._split_check = split_check
        self._split_windows: dict[str, _SplitWindow] = {}
        self.splits: dict[str, SplitResult] = {}
        """Per service with two or more live instances: does Envoy split as weir asked?"""
        self._interval_s = interval_s
        self._max_watch_s = max_watch_s
        self._clock = clock
        self._open: dict[int, Evaluation] = {}
        self._series: dict[str, CounterSeries] = {}
        self.recent = recent or RecentCounts()
        self.source_error: str | None = None
        self._business = business
        self._comparisons = comparisons

    # What the API shows.

    def evaluations(self) -> list[Evaluation]:
        return sorted(self._open.values(), key=lambda e: e.change_seq)

    def budget(self, service: str) -> Budget:
        spec = self._controller.state.services[service]
        return budget_of(service, spec.slo, self._series.setdefault(service, CounterSeries()))

    def recent_counts(self, instance_id: str, *, since: float | None = None) -> list[Sample]:
        """The instance's cumulative counts over the last minutes, oldest first."""
        return self.recent.samples(instance_id, since=since)

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
        compared, decided = self._by_comparison(now)
        try:
            scrape = await self._source.scrape()
            if scrape.reporting == 0:
                raise SourceUnavailable("no proxy has reported stats")
        except SourceUnavailable as exc:
            self.source_error = str(exc)
            self._all_inconclusive(now, f"stats unavailable: {exc}", besides=compared)
            if record:
                for evaluation in decided:  # judged by comparison, which needs no stats
                    del self._open[evaluation.change_seq]
                await self._record(superseded + decided)
            return
        self.source_error = None
        self._track_budgets(state, scrape)
        self._track_instances(state, scrape)
        self._check_splits(state, scrape)
        if self._business is not None:
            await self._business.read(state, scrape)
        decided += [
            e
            for e in self._open.values()
            if e.change_seq not in compared and self._judge_one(state, e, scrape, now)
        ]
        if not record:
            return  # decided ones stay open: the leader's verdict in the ledger closes them
        for evaluation in decided:
            del self._open[evaluation.change_seq]
        await self._record(superseded + decided)

    def _open_changes(self, state: State, now: float) -> list[Evaluation]:
        """Open an evaluation for each judged change not yet open or decided; close (and
        return) those whose instance has since changed again."""
        current = {
            record.since_seq: record
            for record in state.instances.values()
            if record.state in JUDGED_STATES
        }
        superseded = [e for seq, e in self._open.items() if seq not in current]
        for evaluation in superseded:
            del self._open[evaluation.change_seq]
        for seq, record in current.items():
            if seq not in self._open and seq not in state.verdicts:
                self._open[seq] = Evaluation(
                    seq, record.instance.id, record.instance.service, opened_at=now
                )
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

    def _judge_one(self, state: State, evaluation: Evaluation, scrape: Scrape, now: float) -> bool:
        """Judge one open change; True when its verdict is final."""
        if evaluation.start is None:
            evaluation.start = dict(scrape.clusters)
            if self._business is not None:
                self._business.begin(evaluation.change_seq)
            return False
        record = state.instances[evaluation.instance_id]
        since = _since(scrape.clusters, evaluation.start)
        candidate = since.get(record.instance.cluster_name, ClusterCounts())
        others = [
            since.get(other.instance.cluster_name, ClusterCounts())
            for other in state.live_of(evaluation.service)
            if other.instance.id != evaluation.instance_id
        ]
        baseline = sum(others, ClusterCounts()) if others else None
        spec = state.services[evaluation.service]
        verdict = self._judge(
            candidate, baseline, slo=spec.slo, elapsed_s=now - evaluation.opened_at
        )
        extra = self._extra_failures(candidate, baseline)
        evaluation.verdict = verdict.model_copy(
            update={"extra_failures": extra, "cost": extra * spec.risk.cost_per_failed_request}
        )
        if self._business is not None:  # objectives and value (evaluator/_business.py)
            evaluation.verdict = self._business.judge(
                state,
                evaluation.change_seq,
                evaluation.instance_id,
                evaluation.verdict,
                candidate,
                baseline,
            )
        if evaluation.verdict.outcome is not Outcome.INCONCLUSIVE:
            return True
        return now - evaluation.opened_at >= self._max_watch_s

    def _by_comparison(self, now: float) -> tuple[set[int], list[Evaluation]]:
        """Judge the open changes verified by comparing answers (a compared shadow has no stats
        of its own, and needs none): their seqs, and those whose verdict is final."""
        compared: set[int] = set()
        decided: list[Evaluation] = []
        comparisons = self._comparisons
        if comparisons is None:
            return compared, decided
        for evaluation in self._open.values():
            elapsed = now - evaluation.opened_at
            verdict = comparisons.verdict(
                evaluation.change_seq, evaluation.instance_id, elapsed_s=elapsed
            )
            if verdict is None:
                continue
            compared.add(evaluation.change_seq)
            evaluation.verdict = verdict
            if verdict.outcome is not Outcome.INCONCLUSIVE or elapsed >= self._max_watch_s:
                decided.append(evaluation)
        return compared, decided

    def _all_inconclusive(self, now: float, reason: str, besides: set[int]) -> None:
        for evaluation in self._open.values():
            if evaluation.change_seq in besides:
                continue
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

    async def _record(self, finished: list[Evaluation]) -> None:
        for evaluation in finished:
            assert evaluation.verdict is not None
            verdict = evaluation.verdict
            entry = ProposedEntry(
                actor=ACTOR,
                reason=verdict.reason,
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
            if verdict.outcome is Outcome.FAIL:
                await self._roll_back(evaluation, verdict)

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
