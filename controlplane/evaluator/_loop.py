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
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane.control import Controller, current_term
from controlplane.errors import WeirError
from controlplane.evaluator._budget import Budget, budget_of
from controlplane.evaluator._business import BusinessJudge
from controlplane.evaluator._recent import RecentCounts, Sample
from controlplane.evaluator._series import LONGEST_WINDOW_S, AnsweredSeries
from controlplane.evaluator._tally import CallerTally
from controlplane.ledger import BudgetStore
from controlplane.model import (
    MAX_VERDICT_REASON,
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
from controlplane.stats._counts import INSTANCE_CLUSTER_MARK

log = logging.getLogger(__name__)

ACTOR = "evaluator"
DEFAULT_INTERVAL_S = 1.0
DEFAULT_MAX_WATCH_S = 3600.0
COMPACT_EVERY_S = 3600.0
"""How often the leader folds old minute buckets of the budget's history into hours."""
JUDGED_STATES = (ActivationState.LIVE, ActivationState.SHADOW)
_NO_COUNTS = ClusterCounts()
"""One shared zero (frozen), so that the recent counts tell an idle instance by identity."""


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
    @property
    def requests(self) -> int: ...
    @property
    def shares(self) -> Mapping[str, tuple[float, float]]:
        """Per instance: (observed share, asked share)."""
        ...


SplitCheck = Callable[[Mapping[str, int], Mapping[str, float]], SplitResult]
"""Observed requests per live instance, and the shares asked for → whether they differ."""


SPLIT_SETTLE_S = 5.0
"""After a service's weights change, how long before the split is counted: Envoy's stats of
requests routed under the old weights arrive for a flush or two after (push: a 1 s flush and a
read; HA: a publish more), and the proxies apply the new routes at their own pace."""


@dataclass(slots=True)
class _SplitWindow:
    """A period of constant weights: counts from `start`, taken once the change settled."""

    weights: tuple[tuple[str, int], ...]
    changed_at: float
    start: Mapping[str, ClusterCounts] | None = None


@dataclass(slots=True)
class Evaluation:
    """One open change: what it is judged against, and the latest verdict on it."""

    change_seq: int
    instance_id: str
    service: str
    opened_at: float
    start: Mapping[str, ClusterCounts] | None = None
    """Cumulative counts at the first scrape after the change: the zero of its evidence (the
    scrape's own mapping, shared: a source makes a new one per scrape and never changes it)."""
    verdict: Verdict | None = None
    rolled_back: bool = field(default=False)
    evidence: tuple[ClusterCounts, ClusterCounts | None] | None = None
    """The candidate's and the baseline's counts `verdict` was judged on."""


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
        on_tick: Callable[[float], None] = lambda seconds: None,
        business: BusinessJudge | None = None,
        budgets: BudgetStore | None = None,
        split_settle_s: float = SPLIT_SETTLE_S,
    ) -> None:
        """`recent` keeps each instance's counts over the last minutes (for the dashboard);
        `on_tick` is told each tick's wall time, in seconds (a /metrics histogram);
        `business` judges the services' objectives and values each change; `budgets` keeps
        each service's answered requests across restarts and leaders (without one, the
        budget's history lives and dies with this process)."""
        self._on_tick = on_tick
        self._controller = controller
        self._source = source
        self._judge = judge
        self._extra_failures = extra_failures
        self._split_check = split_check
        self._split_windows: dict[str, _SplitWindow] = {}
        self._split_settle_s = split_settle_s
        self.splits: dict[str, SplitResult] = {}
        """Per service with two or more live instances: does Envoy split as weir asked?"""
        self._interval_s = interval_s
        self._max_watch_s = max_watch_s
        self._clock = clock
        self._open: dict[int, Evaluation] = {}
        self._last_seen: tuple[State | None, Mapping[str, ClusterCounts]] = (None, {})
        """The state and the counts of the last tick that read stats."""
        self._tracked: tuple[State | None, dict[str, str]] = (None, {})
        """The state, and the instances (by cluster) whose recent counts it keeps."""
        self._tally = CallerTally()
        self._answered: dict[str, AnsweredSeries] = {}
        self._budgets = budgets
        self._restored = budgets is None
        """Whether the budget's history was read from the store since this replica began to
        lead (or to follow): until then nothing is written to it."""
        self._compacted_at: float | None = None
        self.recent = recent or RecentCounts()
        self.source_error: str | None = None
        self._business = business

    # What the API shows.

    def evaluations(self) -> list[Evaluation]:
        return sorted(self._open.values(), key=lambda e: e.change_seq)

    def budget(self, service: str) -> Budget:
        spec = self._controller.state.services[service]
        return budget_of(service, spec.slo, self._answered_of(service).windows)

    def _answered_of(self, service: str) -> AnsweredSeries:
        if service not in self._answered:
            self._answered[service] = AnsweredSeries(buckets=self._budgets is not None)
        return self._answered[service]

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
        """The leader's loop: each step judged and acted on, and the budget's history saved;
        before the first save it is read from the store (a new leader takes over its
        predecessor's; what the first step counted is the zero, or a second of it)."""
        self._restored = self._budgets is None
        while True:
            started = time.monotonic()
            # one bad tick must not end evaluation for good, nor a store that cannot be
            # reached hold up judging
            await _guarded("evaluator step", self.step())
            self._on_tick(time.monotonic() - started)
            await _guarded("reading the error budget's history", self.restore_budgets())
            await _guarded("saving the error budget's history", self.save_budgets())
            await asyncio.sleep(max(0.0, self._interval_s - (time.monotonic() - started)))

    async def watch(self, following: Callable[[], bool]) -> None:
        """While `following()` (a replica that does not lead), take steps that neither record
        nor act: the replica's API and dashboard show the fleet's budget and open verdicts as
        the leader sees them, from the same shared stats, and a replica that comes to lead
        starts with its series warm. The leader's own `run()` records and acts."""
        while True:
            started = time.monotonic()
            if following():
                await _guarded("evaluator step", self.step(record=False))
                self._on_tick(time.monotonic() - started)
                await _guarded("reading the error budget's history", self.restore_budgets())
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
        slices = _Slices()
        moved = self._moved_clusters(state, scrape)
        self._track_budgets(state, scrape)
        await slices.pause()
        self._track_instances(state, scrape, moved)
        await slices.pause()
        self._check_splits(state, scrape)
        await slices.pause()
        if self._business is not None:
            await self._business.read(state, scrape)
        services = None if moved is None else frozenset(_service_of(c) for c in moved)
        decided = []
        for evaluation in list(self._open.values()):
            if _nothing_new(evaluation, services, now) and not _objectives(state, evaluation):
                continue
            if self._judge_one(state, evaluation, scrape, now):
                decided.append(evaluation)
            await slices.pause()
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
        """What each service's callers got since the last scrape, whichever instance answered
        (controlplane/evaluator/_tally.py)."""
        for service, answered in self._tally.add(state, scrape.clusters).items():
            self._answered_of(service).add(scrape.at, answered.requests, answered.errors)

    async def restore_budgets(self) -> None:
        """Once per term (or once as a follower): every service's answered history from the
        store, in place of what this process counted itself."""
        if self._restored or self._budgets is None:
            return
        now = self._clock()
        loaded = await asyncio.to_thread(self._budgets.load, now - LONGEST_WINDOW_S)
        for service in set(loaded) | set(self._answered):
            self._answered_of(service).restore(loaded.get(service, []), now)
        self._restored = True
        log.info("error budget history read for %d services", len(loaded))

    async def save_budgets(self) -> None:
        """The leader's: write the buckets that changed (a failure keeps them for the next
        tick); compact the history every COMPACT_EVERY_S."""
        if self._budgets is None or not self._restored:
            return
        now, term = self._clock(), current_term()
        unsaved = {s: b for s, series in self._answered.items() if (b := series.unsaved())}
        if unsaved:
            await asyncio.to_thread(self._budgets.save, unsaved, term=term)
            for service, buckets in unsaved.items():
                self._answered[service].saved(buckets, now)
        if self._compacted_at is None or now - self._compacted_at >= COMPACT_EVERY_S:
            windows = {
                name: min(spec.slo.window, LONGEST_WINDOW_S)
                for name, spec in self._controller.state.services.items()
            }
            await asyncio.to_thread(self._budgets.compact, now, windows, term=term)
            self._compacted_at = now

    def _moved_clusters(self, state: State, scrape: Scrape) -> list[str] | None:
        """The clusters whose counts moved since the last scrape (so that a tick costs the
        clusters with traffic, not the mesh); None (all of them) when the state changed
        meanwhile, as which instances are live, or tracked, may have."""
        last_state, last = self._last_seen
        self._last_seen = (state, scrape.clusters)
        if state is not last_state:
            return None
        return [
            name
            for name, counts in scrape.clusters.items()
            if (before := last.get(name)) is not counts and before != counts
        ]

    def _track_instances(self, state: State, scrape: Scrape, moved: list[str] | None) -> None:
        counts = scrape.clusters
        if moved is None or self._tracked[0] is not state:
            # Which instances to track changes with the state: every one's counts, afresh.
            tracked = {
                record.instance.cluster_name: record.instance.id
                for record in state.instances.values()
                if record.state is not ActivationState.RETIRED
            }
            self._tracked = (state, tracked)
            self.recent.add(
                scrape.at, {i: counts.get(name, _NO_COUNTS) for name, i in tracked.items()}
            )
            return
        tracked = self._tracked[1]
        self.recent.advance(
            scrape.at, {tracked[name]: counts[name] for name in moved if name in tracked}
        )

    def _check_splits(self, state: State, scrape: Scrape) -> None:
        """Each service's split over the current period of constant weights, among the
        instances taking live traffic now; counted from SPLIT_SETTLE_S after the change, so
        neither the requests routed under the old weights nor the last answers of an instance
        that left traffic are read against the new ask."""
        if self._split_check is None:
            return
        for service in state.services:
            live = [i for i in state.live_of(service) if (i.activation.weight or 0) > 0]
            weights = tuple(sorted((i.instance.id, i.activation.weight or 0) for i in live))
            window = self._split_windows.get(service)
            if len(live) < 2:
                self._split_windows.pop(service, None)
                self.splits.pop(service, None)
                continue
            if window is None or window.weights != weights:
                self._split_windows[service] = _SplitWindow(weights, scrape.at)
                self.splits.pop(service, None)
                continue
            if window.start is None:
                if scrape.at - window.changed_at >= self._split_settle_s:
                    window.start = dict(scrape.clusters)
                continue
            observed = {
                i.instance.id: _since(
                    scrape.clusters, window.start, i.instance.cluster_name
                ).requests
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
            evaluation.start = scrape.clusters
            if self._business is not None:
                self._business.begin(evaluation.change_seq)
            return False
        record = state.instances[evaluation.instance_id]
        start = evaluation.start
        candidate = _since(scrape.clusters, start, record.instance.cluster_name)
        others = [
            _since(scrape.clusters, start, other.instance.cluster_name)
            for other in state.live_of(evaluation.service)
            if other.instance.id != evaluation.instance_id
        ]
        baseline = sum(others, ClusterCounts()) if others else None
        spec = state.services[evaluation.service]
        if not spec.objectives and _judged_lately(evaluation, (candidate, baseline), now):
            return now - evaluation.opened_at >= self._max_watch_s
        evaluation.evidence = (candidate, baseline)
        # Judged on every attempt (a retry hides a failure from the caller, not from the
        # evidence); costed on what callers got, and a shadow's answers reach none.
        verdict = self._judge(
            candidate.per_attempt(),
            baseline.per_attempt() if baseline is not None else None,
            slo=spec.slo,
            elapsed_s=now - evaluation.opened_at,
        )
        shadow = record.state is ActivationState.SHADOW
        extra = 0.0 if shadow else self._extra_failures(candidate, baseline)
        update: dict[str, object] = {
            "callers": None if shadow else _answered(candidate),
            "extra_failures": extra,
            "cost": extra * spec.risk.cost_per_failed_request,
        }
        disputed = scrape.disputed.get(record.instance.cluster_name)
        if disputed is not None and verdict.outcome is Outcome.INCONCLUSIVE:
            # Its counts hold still meanwhile (stats/_claims.py): say why it does not move.
            said = f"the proxies' stats on it are disputed ({disputed}); {verdict.reason}"
            update["reason"] = said[:MAX_VERDICT_REASON]
        evaluation.verdict = verdict.model_copy(update=update)
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

    def _all_inconclusive(self, now: float, reason: str) -> None:
        for evaluation in self._open.values():
            counts = (
                evaluation.verdict.candidate
                if evaluation.verdict
                else ArmEvidence(requests=0, errors=0)
            )
            evaluation.evidence = None  # judged afresh once the stats are back
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


SLICE_S = 0.005
"""The longest the evaluator holds the event loop at a time, as far as it can tell (one
phase of a tick, or one open change, is not cut). The API and xDS share the loop: at a
thousand services a tick is tens of milliseconds of work, and in one piece it would be that
much latency on every request and push that arrived meanwhile."""


class _Slices:
    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def pause(self) -> None:
        """Hand the loop back if this tick has held it for a slice."""
        if time.perf_counter() - self._since >= SLICE_S:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


REJUDGE_AFTER = 0.1
"""A change whose evidence has not moved is judged again once the time since it opened has
grown by this share (and at least a second) since its verdict: its outcome cannot differ (it
depends on the counts alone, for a service without business objectives: those are judged every
tick), only the elapsed time in its reason and the expected time to a decision. Judging each of
a thousand idle changes every second was most of an idle tick."""


def _judged_lately(
    evaluation: Evaluation, evidence: tuple[ClusterCounts, ClusterCounts | None], now: float
) -> bool:
    return evaluation.evidence == evidence and not _due(evaluation, now)


def _objectives(state: State, evaluation: Evaluation) -> bool:
    """Whether the change's service has business objectives: their evidence (outcomes from
    access logs, PromQL, late pushes) moves without Envoy's counts, so it is judged each tick."""
    spec = state.services.get(evaluation.service)
    return spec is not None and bool(spec.objectives)


def _nothing_new(evaluation: Evaluation, moved: frozenset[str] | None, now: float) -> bool:
    """Whether an open change can be passed over this tick without even working out its
    evidence: it was judged on evidence before, none of its service's clusters moved since
    (nor the state), and its verdict is not due to be judged again for its age."""
    return (
        moved is not None
        and evaluation.evidence is not None
        and evaluation.service not in moved
        and not _due(evaluation, now)
    )


def _due(evaluation: Evaluation, now: float) -> bool:
    verdict = evaluation.verdict
    if verdict is None:
        return True
    elapsed = now - evaluation.opened_at
    return elapsed >= verdict.elapsed_s + max(1.0, REJUDGE_AFTER * verdict.elapsed_s)


def _service_of(cluster: str) -> str:
    return cluster.partition(INSTANCE_CLUSTER_MARK)[0]


async def _guarded(what: str, work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except Exception:
        log.exception("%s failed", what)


def _answered(counts: ClusterCounts) -> ArmEvidence:
    """What callers got from an instance: its final answers."""
    rate = min(1.0, counts.errors / counts.requests) if counts.requests else None
    return ArmEvidence(requests=counts.requests, errors=counts.errors, error_rate=rate)


def _since(
    now: Mapping[str, ClusterCounts], start: Mapping[str, ClusterCounts], cluster: str
) -> ClusterCounts:
    """One cluster's counts between two scrapes. Only the clusters asked about are
    subtracted: a tick costs each open change its own service's instances, not the mesh's."""
    counts = now.get(cluster)
    return counts - start.get(cluster, ClusterCounts()) if counts is not None else ClusterCounts()
