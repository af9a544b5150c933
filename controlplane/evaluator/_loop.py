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

A shadow verified by comparing answers (a service with `compare`) has no stats of its own: its
verdict is the comparator's (`Comparisons`), judged each tick, and even while the stats are
unavailable.

Bad data stays where it is: counts a source rejected, or that the judge refuses, make only the
changes that read them inconclusive for that step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane._ticks import every
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
    ClusterCounts,
    InstanceState,
    Outcome,
    ProposedEntry,
    Scrape,
    ServiceSpec,
    State,
    Verdict,
    VerdictRecorded,
    instance_of_cluster,
    say_duration,
)
from controlplane.rollout import step_evaluations
from controlplane.stats import SourceUnavailable, StatsSource
from controlplane.verdict import Dispersions, Evidence, InvalidCounts, Traffic, VerdictPolicy

log = logging.getLogger(__name__)

ACTOR = "evaluator"
DEFAULT_INTERVAL_S = 1.0
COMPACT_EVERY_S = 3600.0
"""How often the leader folds old minute buckets of the budget's history into hours."""
JUDGED_STATES = (ActivationState.LIVE, ActivationState.SHADOW)
_NO_COUNTS = ClusterCounts()
"""One shared zero (frozen), so that the recent counts tell an idle instance by identity."""
WARM_LOOKBACK_S = 60.0
"""An instance that served requests within this long before its change needs no warm-up."""
MAX_INTERVAL_S = 60.0
"""An interval longer than this (the loop stalled) counts as this long."""
TRAFFIC_WINDOW_S = 300.0
TRAFFIC_MIN_S = 30.0
TRAFFIC_MIN_REQUESTS = 100


class Judge(Protocol):
    def __call__(self, evidence: Evidence, *, elapsed_s: float) -> Verdict: ...


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


SplitChecker = Callable[[Mapping[str, int], Mapping[str, float]], SplitResult]
"""Observed requests per live instance, and the shares asked for → whether they differ."""


class Comparisons(Protocol):
    """Changes judged by comparing answers rather than by Envoy's stats (controlplane.compare):
    their verdict, or None for a change that is not."""

    def verdict(self, change_seq: int, instance_id: str, *, elapsed_s: float) -> Verdict | None: ...


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
    """When it opened, on the evaluator's monotonic clock."""
    candidates: tuple[str, ...] = ()
    """A rollout step taking `instance_id` out: the new version's instances judged instead."""
    decide_within_s: float | None = None
    """A rollout's change: when its inconclusive verdict is recorded."""
    evidence: Evidence | None = None
    """None until the first scrape after the change: the zero of its evidence."""
    start: Mapping[str, ClusterCounts] | None = None
    """Cumulative counts at that first scrape: the zero of what callers got from the change
    (its cost, its business objectives). The scrape's own mapping, shared: a source makes a
    new one per scrape and never changes it."""
    idle_s: float = 0.0
    """Seconds of ticks passed over since it was last judged (nothing of its service moved):
    their intervals are empty, so they are added to the next one that is not."""
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
        split_check: SplitChecker | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        recent: RecentCounts | None = None,
        on_tick: Callable[[float], None] = lambda seconds: None,
        business: BusinessJudge | None = None,
        budgets: BudgetStore | None = None,
        split_settle_s: float = SPLIT_SETTLE_S,
        comparisons: Comparisons | None = None,
    ) -> None:
        """`clock` is monotonic: every duration the evaluator judges by is read from it;
        `wall_clock` dates the budget's stored history (a scrape's `at` is wall time too).
        `recent` keeps each instance's counts over the last minutes (for the dashboard);
        `on_tick` is told each tick's wall time, in seconds (a /metrics histogram);
        `business` judges the services' objectives and values each change; `budgets` keeps
        each service's answered requests across restarts and leaders (without one, the
        budget's history lives and dies with this process); `comparisons` judges the changes
        verified by comparing answers."""
        self._on_tick = on_tick
        self._controller = controller
        self._source = source
        self._judge = judge
        self._extra_failures = extra_failures
        self._split_check = split_check
        self._split_windows: dict[str, _SplitWindow] = {}
        self._splitting: tuple[State | None, dict[str, _Split]] = (None, {})
        """The state, and the services it splits over two or more instances (worked out once
        per state: a tick costs those services, not the mesh)."""
        self._split_settle_s = split_settle_s
        self.splits: dict[str, SplitResult] = {}
        """Per service with two or more live instances: does Envoy split as weir asked?"""
        self._interval_s = interval_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._open: dict[int, Evaluation] = {}
        self._opened_for: State | None = None
        """The state the open changes were last worked out from."""
        self._previous: tuple[float, Mapping[str, ClusterCounts]] | None = None
        """The last scrape's time (monotonic) and counts: each interval's start."""
        self._dispersions: dict[str, Dispersions] = {}
        """Per service, how its events come, from every scrape: a new change's prior."""
        self._live_since: dict[str, tuple[int, ClusterCounts]] = {}
        """Per live instance: its change and its counts when first seen live, for the record
        of a replaced version."""
        self._noted_for: State | None = None
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
        self._comparisons = comparisons

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

    def traffic(self, service: str) -> Traffic | None:
        """The service's live traffic over the last minutes, or None while too little is known
        to forecast anything by (what `weir rollout start` forecasts its steps at)."""
        if service not in self._controller.state.services:
            return None
        seen = self._answered_of(service).windows.increase(TRAFFIC_WINDOW_S)
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
        """The leader's loop: each step judged and acted on, and the budget's history saved;
        before the first save it is read from the store (a new leader takes over its
        predecessor's; what the first step counted is the zero, or a second of it)."""
        self._restored = self._budgets is None
        await every(self._interval_s, self._lead)

    async def _lead(self) -> None:
        started = time.monotonic()
        # one bad tick must not end evaluation for good, nor a store that cannot be reached
        # hold up judging
        await _guarded("evaluator step", self.step())
        self._on_tick(time.monotonic() - started)
        await _guarded("reading the error budget's history", self.restore_budgets())
        await _guarded("saving the error budget's history", self.save_budgets())

    async def watch(self, following: Callable[[], bool]) -> None:
        """While `following()` (a replica that does not lead), take steps that neither record
        nor act: the replica's API and dashboard show the fleet's budget and open verdicts as
        the leader sees them, from the same shared stats, and a replica that comes to lead
        starts with its series warm. The leader's own `run()` records and acts."""

        async def follow() -> None:
            started = time.monotonic()
            if following():
                await _guarded("evaluator step", self.step(record=False))
                self._on_tick(time.monotonic() - started)
                await _guarded("reading the error budget's history", self.restore_budgets())

        await every(self._interval_s, follow)

    async def step(self, *, record: bool = True) -> None:
        """Read the stats, track budgets and splits, judge the open changes; with `record`,
        append the final verdicts (and the inconclusive ones past their deadline) and act on
        them."""
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
            # a compared shadow needs no stats: the comparator's verdict stands
            due = [
                e for e in list(self._open.values()) if self._compared(e, now) and self._due(e, now)
            ]
            if record:
                for evaluation in due:
                    assert evaluation.verdict is not None
                    if evaluation.verdict.outcome is not Outcome.INCONCLUSIVE:
                        del self._open[evaluation.change_seq]  # at its deadline: stays open
                await self._record(superseded + due)
            return
        self.source_error = None
        slices = _Slices()
        moved, respecified = self._moved_clusters(state, scrape)
        services = None if moved is None else frozenset(_service_of(c) for c in moved)
        if services is not None and respecified:
            services |= respecified
        await self._track_budgets(state, scrape, slices)
        await slices.pause()
        self._track_instances(state, scrape, moved)
        await slices.pause()
        self._check_splits(state, scrape)
        await slices.pause()
        if self._business is not None:
            await self._business.read(state, scrape)
        previous, self._previous = self._previous, (now, scrape.clusters)
        seconds = min(max(now - previous[0], 0.0), MAX_INTERVAL_S) if previous else 0.0
        if previous is not None:
            self._track_dispersions(state, scrape, previous[1], seconds, services)
        await slices.pause()
        decided, deadline = [], []
        spacing = len(self._open) / IDLE_REJUDGES_PER_S
        for evaluation in list(self._open.values()):
            if (
                _nothing_new(evaluation, services, now, spacing)
                and not _objectives(state, evaluation)
                and not _compared_shadow(state, evaluation)
            ):
                evaluation.idle_s += seconds
                await slices.pause()
                continue
            if not self._judge_safely(state, evaluation, scrape, previous, seconds, now):
                continue
            if (
                evaluation.verdict is not None
                and evaluation.verdict.outcome is Outcome.INCONCLUSIVE
            ):
                deadline.append(evaluation)  # recorded, and still open
            else:
                decided.append(evaluation)
            await slices.pause()
        self._note_live(state, scrape)
        if not record:
            return  # decided ones stay open: the leader's verdict in the ledger closes them
        for evaluation in decided:
            del self._open[evaluation.change_seq]
        await self._record(superseded + decided + deadline)

    def _open_changes(self, state: State, now: float) -> list[Evaluation]:
        """Open an evaluation for each judged change not yet open or decided (a change whose
        recorded verdict is inconclusive is judged on: it still stands); close (and return)
        those whose instance has since changed again. Worked out once per state."""
        if state is self._opened_for:
            return []
        self._opened_for = state
        current: dict[int, tuple[str, str, tuple[str, ...]]] = {}
        for record in state.instances.values():
            if record.state in JUDGED_STATES:
                current[record.since_seq] = (record.instance.id, record.instance.service, ())
        for step in step_evaluations(state):
            current[step.change_seq] = (step.instance_id, step.service, step.candidates)
        superseded = [e for seq, e in self._open.items() if seq not in current]
        for evaluation in superseded:
            del self._open[evaluation.change_seq]
        for seq in [seq for seq in self._open if _decided(state, seq)]:
            del self._open[seq]  # another replica (the leader) recorded its verdict
        for seq, (instance_id, service, candidates) in current.items():
            if seq in self._open or _decided(state, seq):
                continue
            evaluation = Evaluation(seq, instance_id, service, opened_at=now, candidates=candidates)
            evaluation.decide_within_s = _decide_within(state, seq)
            if seq in state.verdicts:  # re-opened: its deadline has been recorded already
                evaluation.deadline_recorded = True
            self._open[seq] = evaluation
        return [e for e in superseded if e.verdict is not None]

    async def _track_budgets(self, state: State, scrape: Scrape, slices: _Slices) -> None:
        """What each service's callers got since the last scrape, whichever instance answered
        (controlplane/evaluator/_tally.py)."""
        for service, answered in self._tally.add(state, scrape.clusters).items():
            self._answered_of(service).add(scrape.at, answered.requests, answered.errors)
            await slices.pause()

    async def restore_budgets(self) -> None:
        """Once per term (or once as a follower): every service's answered history from the
        store, in place of what this process counted itself."""
        if self._restored or self._budgets is None:
            return
        now = self._wall_clock()
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
        now, term = self._wall_clock(), current_term()
        unsaved = {
            s: b for s, series in self._answered.items() if series.dirty and (b := series.unsaved())
        }
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

    def _moved_clusters(
        self, state: State, scrape: Scrape
    ) -> tuple[list[str] | None, frozenset[str]]:
        """The clusters whose counts moved since the last scrape (so that a tick costs the
        clusters with traffic, not the mesh; None, all of them, at the first scrape), and the
        services whose file changed since that scrape's state (new ones included), to be
        looked at whether or not their counts moved. A state that only moved instances leaves
        an unmoved service's interval empty whatever is live now: nothing to add."""
        last_state, last = self._last_seen
        self._last_seen = (state, scrape.clusters)
        if last_state is None:
            return None, frozenset()
        moved = [
            name
            for name, counts in scrape.clusters.items()
            if (before := last.get(name)) is not counts and before != counts
        ]
        if state.services is last_state.services:
            return moved, frozenset()
        before_specs = last_state.services
        respecified = frozenset(
            name for name, spec in state.services.items() if before_specs.get(name) is not spec
        )
        return moved, respecified

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
        if self._splitting[0] is not state:
            self._splitting = (state, _splitting(state))
            for service in self._split_windows.keys() - self._splitting[1].keys():
                del self._split_windows[service]
            for service in self.splits.keys() - self._splitting[1].keys():
                del self.splits[service]
        for service, (live, weights) in self._splitting[1].items():
            window = self._split_windows.get(service)
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
            evaluation.start = scrape.clusters
            if self._business is not None:
                self._business.begin(evaluation.change_seq)
            return False
        assert previous is not None and evaluation.start is not None
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
        # Judged on every attempt (a retry hides a failure from the caller, not from the
        # evidence); costed on what callers got, and a shadow's answers reach none.
        candidate = _interval(scrape.clusters, previous[1], names).per_attempt()
        baseline = _interval(scrape.clusters, previous[1], others).per_attempt() if others else None
        seconds, evaluation.idle_s = seconds + evaluation.idle_s, 0.0
        evidence = evaluation.evidence.add(candidate, baseline, seconds)
        evaluation.evidence = evidence
        verdict = self._judge(evidence, elapsed_s=now - evaluation.opened_at)
        callers = _interval(scrape.clusters, evaluation.start, names)
        callers_baseline = _interval(scrape.clusters, evaluation.start, others) if others else None
        shadow = state.instances[evaluation.instance_id].state is ActivationState.SHADOW
        extra = 0.0 if shadow else self._extra_failures(callers, callers_baseline)
        update: dict[str, object] = {
            "callers": None if shadow else _answered(callers),
            "extra_failures": extra,
            "cost": extra * spec.risk.cost_per_failed_request,
        }
        disputed = [scrape.disputed[n] for n in names if n in scrape.disputed]
        if disputed and verdict.outcome is Outcome.INCONCLUSIVE:
            # Its counts hold still meanwhile (stats/_claims.py): say why it does not move.
            said = f"the proxies' stats on it are disputed ({disputed[0]}); {verdict.reason}"
            update["reason"] = said[:MAX_VERDICT_REASON]
        evaluation.verdict = verdict.model_copy(update=update)
        if self._business is not None and not evaluation.candidates:
            # objectives and value (evaluator/_business.py)
            evaluation.verdict = self._business.judge(
                state,
                evaluation.change_seq,
                evaluation.instance_id,
                evaluation.verdict,
                callers,
                callers_baseline,
            )
        if self._comparisons is not None and not evaluation.candidates:
            # a shadow verified by comparing answers has no stats of its own: the comparator's
            # verdict stands in for the one above (controlplane/compare)
            self._compared(evaluation, now)
        return self._due(evaluation, now)

    def _compared(self, evaluation: Evaluation, now: float) -> bool:
        """Give a change verified by comparing answers the comparator's verdict; whether it is
        one."""
        if self._comparisons is None:
            return False
        verdict = self._comparisons.verdict(
            evaluation.change_seq, evaluation.instance_id, elapsed_s=now - evaluation.opened_at
        )
        if verdict is None:
            return False
        evaluation.verdict = verdict
        return True

    def _due(self, evaluation: Evaluation, now: float) -> bool:
        """Whether the change's verdict is to be recorded now: it is final, or inconclusive at
        its deadline (then recorded once, and the change stays open)."""
        assert evaluation.verdict is not None
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
                update={
                    "reason": f"no decision within {say_duration(due)}: "
                    f"{evaluation.verdict.reason}"[:MAX_VERDICT_REASON]
                }
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
                reference = (last - since[1] if since else last).per_attempt()
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
        moved: frozenset[str] | None,
    ) -> None:
        """How each service's events come, from its live instances' interval counts, leaving out
        those whose change is still being judged (but for the service's longest-standing one):
        a failing canary's errors must not teach the service that its errors come in clumps,
        which would slow the verdicts on its next changes. A service none of whose clusters
        moved adds nothing: an empty interval is no event."""
        judged = {i for e in self._open.values() for i in (e.instance_id, *e.candidates)}
        for service, spec in state.services.items():
            if moved is not None and service not in moved and service in self._dispersions:
                continue
            live = state.live_of(service)
            oldest = min((r.since_seq for r in live), default=0)
            names = [
                r.instance.cluster_name
                for r in live
                if r.instance.cluster_name not in scrape.rejected
                and (r.instance.id not in judged or r.since_seq == oldest)
            ]
            dispersions = self._dispersions.get(service)
            if dispersions is None or dispersions.slo_ms != spec.slo.latency_p99_ms:
                dispersions = Dispersions.of(spec.slo)
            if names and seconds > 0:
                try:
                    interval = _interval(scrape.clusters, previous, names).per_attempt()
                    dispersions = dispersions.add(interval, seconds)
                except (ValueError, TypeError):  # counts no source should give: judged apart
                    log.warning("service %s: unusable counts left out of its dispersion", service)
            self._dispersions[service] = dispersions
        for gone in self._dispersions.keys() - state.services.keys():
            del self._dispersions[gone]

    def _note_live(self, state: State, scrape: Scrape) -> None:
        """Remember each live instance's counts when first seen live since its change (which
        only a new state can bring)."""
        if state is self._noted_for:
            return
        self._noted_for = state
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
            # A failed change and its rollback are one append: no reader (nor a restart
            # between two writes) ever sees a failed verdict on an instance still serving
            rollback = self._rollback_of(evaluation, verdict)
            if rollback is not None:
                try:
                    await asyncio.to_thread(self._controller.submit, [entry, rollback])
                    evaluation.rolled_back = True
                    continue
                except WeirError as exc:
                    log.error("could not roll back %s: %s", evaluation.instance_id, exc)
            try:
                await asyncio.to_thread(self._controller.submit, [entry])
            except WeirError as exc:
                log.warning("verdict on change %d not recorded: %s", evaluation.change_seq, exc)
            # a failed rollout step taking replaced instances out is undone by its rollout

    def _rollback_of(self, evaluation: Evaluation, verdict: Verdict) -> ProposedEntry | None:
        """The entry taking a failed change's instance out of traffic, if it is the
        evaluator's to take out: not a rollout step's (its rollout undoes it), not with
        auto_rollback off, not when the instance has moved on since the change."""
        if verdict.outcome is not Outcome.FAIL or evaluation.candidates:
            return None
        spec = self._controller.state.services.get(evaluation.service)
        if spec is None:
            return None
        if not spec.rollout.auto_rollback:
            log.warning(
                "change %d failed; auto_rollback is off for %s",
                evaluation.change_seq,
                evaluation.service,
            )
            return None
        record = self._controller.state.instances.get(evaluation.instance_id)
        if record is None or record.since_seq != evaluation.change_seq:
            return None  # the instance moved on meanwhile: nothing of this change left to undo
        reason = f"rollback: change {evaluation.change_seq} failed its verdict: {verdict.reason}"
        return self._controller.propose_change(
            evaluation.instance_id, Activation.inactive(), actor=ACTOR, reason=reason[:1024]
        )


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
"""A change none of whose service's counts moved is judged again once the time since it opened
has grown by this share (and at least a second) since its verdict; meanwhile its empty
intervals wait to be added to the next (their bets are even: no request, no event). Judging
each of a thousand idle changes every second was most of an idle tick."""
IDLE_REJUDGES_PER_S = 10.0
"""And at most about this many idle changes a second are judged again for their age: with many
open changes each waits at least `open changes / IDLE_REJUDGES_PER_S` seconds between two
(so the verdict an idle change shows, its age and forecast, may be that much behind). Judging
every idle change again as it aged by a tenth was still most of an idle tick at a thousand."""


_Split = tuple[list[InstanceState], tuple[tuple[str, int], ...]]
"""A service's live instances with a weight, and (instance id, weight) of each, sorted."""


def _splitting(state: State) -> dict[str, _Split]:
    """The services whose live traffic the state splits over two or more instances."""
    splitting: dict[str, _Split] = {}
    for service in state.services:
        live = [i for i in state.live_of(service) if (i.activation.weight or 0) > 0]
        if len(live) >= 2:
            weights = tuple(sorted((i.instance.id, i.activation.weight or 0) for i in live))
            splitting[service] = (live, weights)
    return splitting


def _objectives(state: State, evaluation: Evaluation) -> bool:
    """Whether the change's service has business objectives: their evidence (outcomes from
    access logs, PromQL, late pushes) moves without Envoy's counts, so it is judged each tick."""
    spec = state.services.get(evaluation.service)
    return spec is not None and bool(spec.objectives)


def _compared_shadow(state: State, evaluation: Evaluation) -> bool:
    """Whether the change is a shadow of a service verified by comparing answers: the
    comparator's counts move without Envoy's, so it is judged each tick."""
    record = state.instances.get(evaluation.instance_id)
    spec = state.services.get(evaluation.service)
    return (
        record is not None
        and record.state is ActivationState.SHADOW
        and spec is not None
        and spec.compare is not None
    )


def _nothing_new(
    evaluation: Evaluation, moved: frozenset[str] | None, now: float, spacing: float = 0.0
) -> bool:
    """Whether an open change can be passed over this tick without even working out its
    evidence: it was judged before, none of its service's clusters moved since (nor the
    state), its verdict is not due to be judged again for its age (REJUDGE_AFTER, and at
    least `spacing` seconds apart), nor its deadline."""
    if moved is None or evaluation.verdict is None or evaluation.service in moved:
        return False
    due = evaluation.decide_within_s
    elapsed = now - evaluation.opened_at
    if due is not None and not evaluation.deadline_recorded and elapsed >= due:
        return False
    judged_at = evaluation.verdict.elapsed_s
    return elapsed < judged_at + max(1.0, REJUDGE_AFTER * judged_at, spacing)


def _service_of(cluster: str) -> str:
    service, _ = instance_of_cluster(cluster) or (cluster, "")
    return service


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


def _interval(
    now: Mapping[str, ClusterCounts], before: Mapping[str, ClusterCounts], names: list[str]
) -> ClusterCounts:
    """What the named clusters served between two scrapes, summed."""
    total = ClusterCounts()
    for name in names:
        total = total + _since(now, before, name)
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
