"""The evaluator's business step: read every objective's source once a tick, and join each open
change's 5xx/latency verdict with its objectives' comparisons and its value.

The loop calls three things: `read(state, scrape)` once per tick, `begin(seq)` when a change's
evidence starts (the same scrape its counts start from) and `judge(...)` per open change.
Objectives are judged for live instances only (a shadow's answers are discarded, so it has no
outcomes), against the sum of the service's other live instances, like the 5xx comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from controlplane.model import (
    ActivationState,
    ClusterCounts,
    ObjectiveEvidence,
    OutcomeCounts,
    Outcomes,
    Scrape,
    State,
    Verdict,
)
from controlplane.verdict import ObjectivePolicy, judge_objective
from controlplane.verdict._business import with_objectives
from controlplane.verdict._value import value_of

log = logging.getLogger(__name__)


class OutcomeSource(Protocol):
    async def read(self, state: State, scrape: Scrape) -> Outcomes: ...


class BusinessJudge:
    def __init__(
        self,
        sources: Mapping[str, OutcomeSource],
        *,
        policy: ObjectivePolicy | None = None,
    ) -> None:
        """`sources`: per source kind (`header`, `promql`, `api`), what reads it."""
        self._sources = sources
        self._policy = policy or ObjectivePolicy()
        self._now: dict[str, Outcomes] = {}
        self._start: dict[int, dict[str, Outcomes]] = {}
        self._forgot_for: State | None = None

    async def read(self, state: State, scrape: Scrape) -> None:
        now: dict[str, Outcomes] = {}
        for kind, source in self._sources.items():
            try:
                now[kind] = await source.read(state, scrape)
            except Exception:  # one source down must not stop the 5xx verdicts
                log.exception("outcome source %s failed", kind)
                now[kind] = self._now.get(kind, {})
        self._now = now
        if state is not self._forgot_for:  # changes close with the state only
            open_seqs = {r.since_seq for r in state.instances.values()}
            for seq in set(self._start) - open_seqs:
                del self._start[seq]
            self._forgot_for = state

    def begin(self, change_seq: int) -> None:
        self._start[change_seq] = self._now

    def judge(
        self,
        state: State,
        change_seq: int,
        instance_id: str,
        verdict: Verdict,
        candidate: ClusterCounts,
        baseline: ClusterCounts | None,
    ) -> Verdict:
        record = state.instances[instance_id]
        spec = state.services[record.instance.service]
        objectives: list[ObjectiveEvidence] = []
        if record.state is ActivationState.LIVE:
            start = self._start.get(change_seq, {})
            others = [
                o.instance.cluster_name
                for o in state.live_of(record.instance.service)
                if o.instance.id != instance_id
            ]
            for objective in spec.objectives:
                kind = objective.source.kind
                now, then = self._now.get(kind, {}), start.get(kind, {})
                since = [_since(now, then, c, objective.name) for c in others]
                base = sum(since, OutcomeCounts()) if others else None
                objectives.append(
                    judge_objective(
                        objective,
                        _since(now, then, record.instance.cluster_name, objective.name),
                        base,
                        elapsed_s=verdict.elapsed_s,
                        policy=self._policy,
                    )
                )
        worth = {o.name: o.value_per_unit for o in spec.objectives}
        value = value_of(spec.risk, worth, objectives, candidate, baseline, verdict.elapsed_s)
        return with_objectives(verdict, objectives, value, value_gate=spec.rollout.value_gate)


def _since(now: Outcomes, then: Outcomes, cluster: str, name: str) -> OutcomeCounts:
    zero = OutcomeCounts()
    return now.get(cluster, {}).get(name, zero) - then.get(cluster, {}).get(name, zero)
