"""The signals operators already watch, on /metrics: rollouts, verdicts, error budgets, the
value and cost of changes, and whether each proxy holds the current state.

Names follow Prometheus's conventions: base units (seconds, ratios 0..1), `_total` for
counters, a state set (one series per state, 1 for the current one) for a rollout's state.
Counters are folded from the ledger (so they say the same on every replica and after a
restart: a restart recounts them from the ledger, never backwards); gauges are read from the
evaluator and the proxy registry at scrape time. deploy/grafana/ and deploy/prometheus/ use
exactly these names (tests/signals/ checks).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.model import (
    ActivationChanged,
    Entry,
    Outcome,
    RolloutFinished,
    RolloutOutcome,
    RolloutUndone,
    State,
    VerdictRecorded,
)
from controlplane.rollout import progress
from controlplane.units import format_duration
from controlplane.xds import ProxyRegistry

ROLLOUT_STATES = ("running", "paused", "completed", "rolled_back", "aborted")
OUTCOMES = tuple(outcome.value for outcome in Outcome)
ROLLBACK_KINDS = ("verdict", "rollout", "abort", "undo")
"""verdict: the evaluator took an instance whose change failed out of traffic; rollout: a
rollout rolled itself back on a failing verdict; abort, undo: an operator did."""


class LedgerCounts:
    """Counters folded from the ledger, caught up from where the last scrape left off."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self._lock = threading.Lock()
        self.seq = 0
        self.verdicts: Counter[tuple[str, str]] = Counter()
        self.rollbacks: Counter[tuple[str, str]] = Counter()
        self.rollouts: Counter[tuple[str, str]] = Counter()
        self.value: dict[str, tuple[int, float]] = {}
        """Per service: judged changes, and the value their requests carried."""
        self.cost: dict[str, tuple[int, float]] = {}

    def catch_up(self) -> None:
        with self._lock:
            entries = self._controller.entries(after_seq=self.seq)
            state = self._controller.state
            for entry in entries:
                self._count(entry, state)
                self.seq = entry.seq

    def _count(self, entry: Entry, state: State) -> None:
        event = entry.event
        if isinstance(event, VerdictRecorded):
            verdict, service = event.verdict, event.service
            self.verdicts[service, verdict.outcome.value] += 1
            spec = state.services.get(service)
            worth = spec.risk.value_per_request if spec else 0.0
            n, total = self.value.get(service, (0, 0.0))
            self.value[service] = (n + 1, total + verdict.candidate.requests * worth)
            n, total = self.cost.get(service, (0, 0.0))
            self.cost[service] = (n + 1, total + verdict.cost)
        elif isinstance(event, RolloutFinished):
            self.rollouts[event.service, event.outcome.value] += 1
            if event.outcome is RolloutOutcome.ROLLED_BACK:
                self.rollbacks[event.service, "rollout"] += 1
            elif event.outcome is RolloutOutcome.ABORTED:
                self.rollbacks[event.service, "abort"] += 1
        elif isinstance(event, RolloutUndone):
            self.rollbacks[event.service, "undo"] += 1
        elif (
            isinstance(event, ActivationChanged)
            and entry.actor == "evaluator"
            and event.rollout_id is None
        ):
            self.rollbacks[event.service, "verdict"] += 1


class SignalsCollector(Collector):
    """Read at scrape time, on the event loop (where the evaluator and the registry live)."""

    def __init__(
        self, controller: Controller, registry: ProxyRegistry, evaluator: Evaluator | None
    ) -> None:
        self._controller = controller
        self._registry = registry
        self._evaluator = evaluator
        self._counts = LedgerCounts(controller)

    def collect(self) -> Iterator[Metric]:
        state = self._controller.state
        self._counts.catch_up()
        yield from self._rollouts(state)
        yield from self._ledger_counters(state)
        if self._evaluator is not None:
            yield from self._verdicts(self._evaluator)
            yield from self._budgets(state, self._evaluator)
        yield from self._proxies()

    def _rollouts(self, state: State) -> Iterator[Metric]:
        labels = ["service", "rollout"]
        info = GaugeMetricFamily(
            "weir_rollout_info",
            "Each service's last rollout: its version and strategy (always 1)",
            labels=[*labels, "version", "strategy"],
        )
        states = GaugeMetricFamily(
            "weir_rollout_state",
            "Each service's last rollout, one series per state: 1 for the state it is in",
            labels=[*labels, "state"],
        )
        step = GaugeMetricFamily(
            "weir_rollout_step",
            "The step of each service's last rollout, counted as asked (0 before the first)",
            labels=labels,
        )
        steps = GaugeMetricFamily(
            "weir_rollout_steps", "How many steps the rollout was asked for", labels=labels
        )
        share = GaugeMetricFamily(
            "weir_rollout_traffic_ratio",
            "The share of the service's live traffic on the rollout's version, 0..1",
            labels=labels,
        )
        for service in sorted(state.services):
            rollout = state.last_rollout(service)
            if rollout is None:
                continue
            key = [service, rollout.id]
            info.add_metric([*key, rollout.version, rollout.plan.strategy], 1)
            now = (
                rollout.outcome.value
                if rollout.outcome
                else ("paused" if rollout.paused else "running")
            )
            for name in ROLLOUT_STATES:
                states.add_metric([*key, name], 1 if name == now else 0)
            taken, asked = progress(rollout)
            step.add_metric(key, taken)
            steps.add_metric(key, asked)
            live = state.live_of(service)
            total = sum(i.activation.weight or 0 for i in live)
            mine = sum(
                i.activation.weight or 0 for i in live if i.instance.version == rollout.version
            )
            share.add_metric(key, mine / total if total else 0.0)
        yield from (info, states, step, steps, share)

    def _ledger_counters(self, state: State) -> Iterator[Metric]:
        counts = self._counts
        # Every service's series exist from the start, at 0: increase() over a window in which
        # a counter first appears says nothing, so a first rollback would never alert.
        for service in state.services:
            for outcome in OUTCOMES:
                counts.verdicts.setdefault((service, outcome), 0)
            for kind in ROLLBACK_KINDS:
                counts.rollbacks.setdefault((service, kind), 0)
        verdicts = CounterMetricFamily(
            "weir_verdicts",
            "Final verdicts recorded in the ledger, by outcome",
            labels=["service", "outcome"],
        )
        for (service, outcome), n in sorted(counts.verdicts.items()):
            verdicts.add_metric([service, outcome], n)
        rollbacks = CounterMetricFamily(
            "weir_rollbacks",
            "Rollbacks: verdict (the evaluator took a failing instance out), rollout (a "
            "rollout rolled itself back), abort and undo (by an operator)",
            labels=["service", "kind"],
        )
        for (service, kind), n in sorted(counts.rollbacks.items()):
            rollbacks.add_metric([service, kind], n)
        rollouts = CounterMetricFamily(
            "weir_rollouts_finished",
            "Rollouts that ended, by outcome",
            labels=["service", "outcome"],
        )
        for (service, outcome), n in sorted(counts.rollouts.items()):
            rollouts.add_metric([service, outcome], n)
        value = SummaryMetricFamily(
            "weir_change_value",
            "Per judged change: the business value its requests carried while judged "
            "(requests x the service's value_per_request); _sum / _count is the value per change",
            labels=["service"],
        )
        for service, (n, total) in sorted(counts.value.items()):
            value.add_metric([service], count_value=n, sum_value=total)
        cost = SummaryMetricFamily(
            "weir_change_cost",
            "Per judged change: what its failures beyond the baseline cost (extra failed "
            "requests x cost_per_failed_request)",
            labels=["service"],
        )
        for service, (n, total) in sorted(counts.cost.items()):
            cost.add_metric([service], count_value=n, sum_value=total)
        yield from (verdicts, rollbacks, rollouts, value, cost)

    def _verdicts(self, evaluator: Evaluator) -> Iterator[Metric]:
        labels = ["service", "instance", "change"]
        e_value = GaugeMetricFamily(
            "weir_verdict_e_value",
            "Open verdicts: the anytime-valid evidence that the change is worse (test: error "
            "or latency); it fails at weir_verdict_e_value_threshold",
            labels=[*labels, "test"],
        )
        threshold = GaugeMetricFamily(
            "weir_verdict_e_value_threshold",
            "Open verdicts: the e-value at which the test decides (1/alpha)",
            labels=labels,
        )
        open_verdicts = GaugeMetricFamily(
            "weir_verdicts_open",
            "Changes being judged now, by their verdict so far",
            labels=["service", "outcome"],
        )
        so_far: Counter[tuple[str, str]] = Counter()
        for evaluation in evaluator.evaluations():
            verdict = evaluation.verdict
            so_far[evaluation.service, verdict.outcome.value if verdict else "pending"] += 1
            if verdict is None:
                continue
            key = [evaluation.service, evaluation.instance_id, str(evaluation.change_seq)]
            for test, value in (
                ("error", verdict.error_e_value),
                ("latency", verdict.latency_e_value),
            ):
                if value is not None:
                    e_value.add_metric([*key, test], value)
            if verdict.threshold is not None:
                threshold.add_metric(key, verdict.threshold)
        for (service, outcome), n in sorted(so_far.items()):
            open_verdicts.add_metric([service, outcome], n)
        yield from (e_value, threshold, open_verdicts)

    def _budgets(self, state: State, evaluator: Evaluator) -> Iterator[Metric]:
        remaining = GaugeMetricFamily(
            "weir_error_budget_remaining_ratio",
            "The error budget left over the SLO window: 1 untouched, 0 spent, below 0 "
            "overspent (absent without enough traffic)",
            labels=["service"],
        )
        burn = GaugeMetricFamily(
            "weir_error_budget_burn_rate",
            "Observed error rate over the budgeted one, per window (1 spends the budget in "
            "exactly the SLO window)",
            labels=["service", "window"],
        )
        frozen = GaugeMetricFamily(
            "weir_error_budget_frozen",
            "1 while new live activations are refused because the budget is spent",
            labels=["service"],
        )
        objective = GaugeMetricFamily(
            "weir_slo_success_ratio",
            "The SLO: the share of requests that must not fail, 0..1",
            labels=["service"],
        )
        for service in sorted(state.services):
            budget = evaluator.budget(service)
            objective.add_metric([service], budget.success_rate / 100)
            frozen.add_metric([service], 1 if budget.exhausted else 0)
            if budget.remaining is not None:
                remaining.add_metric([service], budget.remaining)
            seen: set[str] = set()
            for rate in budget.burn_rates:
                for window, value in (
                    (rate.long_window_s, rate.long),
                    (rate.short_window_s, rate.short),
                ):
                    name = format_duration(window)
                    if value is None or name in seen:
                        continue
                    seen.add(name)
                    # A spent budget with an allowed rate of 0 burns infinitely: say so finitely.
                    burn.add_metric([service, name], min(value, 1e9))
        yield from (remaining, burn, frozen, objective)

    def _proxies(self) -> Iterator[Metric]:
        synced = GaugeMetricFamily(
            "weir_proxy_synced",
            "1 while the proxy holds the current state (every response ACKed), else 0",
            labels=["node_id", "protocol"],
        )
        behind = GaugeMetricFamily(
            "weir_proxy_behind_seconds",
            "How long the proxy has lacked the current state (0 while it holds it)",
            labels=["node_id", "protocol"],
        )
        now = datetime.now(UTC)
        current = self._registry.current_version
        for status in self._registry.proxies():
            in_sync = status.behind_since is None and status.synced_version == current
            late = 0.0
            if status.behind_since is not None:
                late = max((now - status.behind_since).total_seconds(), 0.0)
            key = [status.node_id, status.protocol]
            synced.add_metric(key, 1 if in_sync else 0)
            behind.add_metric(key, late)
        yield from (synced, behind)
