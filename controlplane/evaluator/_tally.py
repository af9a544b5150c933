"""What each service's callers got, from one scrape to the next: the error budget's input.

A request counts where it was answered, whichever instance answered it and whatever that
instance's state is now: a canary rolled back a second ago served callers until then, and
its last answers, flushed by Envoy after the change, are callers' too. Only mirrored answers
are left out: a shadow instance's responses are discarded by Envoy and reach no caller.

Envoy's cluster stats cannot tell a mirrored response from a routed one, so each instance
cluster's counts are read by the traffic the instance was taking: live, or shadow. An instance
that takes none now (inactive, retired) is read by the traffic it took last, so the answers it
gave before the change and that arrive after it count as what they were. An instance moved
straight between shadow and live (rare: weir's rollouts pass through neither) has its answers
of the last flush or two (a second or two of traffic) counted as the new kind.

Only what callers finally got counts: with route retries, a response Envoy retried never
reached its caller (ClusterCounts keeps those apart).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.model import ActivationState, ClusterCounts, State

TRAFFIC_STATES = (ActivationState.LIVE, ActivationState.SHADOW)


@dataclass(frozen=True, slots=True)
class Answered:
    """Requests answered to callers, and how many of them failed (5xx)."""

    requests: int = 0
    errors: int = 0

    def __add__(self, other: Answered) -> Answered:
        return Answered(self.requests + other.requests, self.errors + other.errors)


class CallerTally:
    """Turns cumulative per-cluster counts, scrape by scrape, into what each service's callers
    got in between."""

    def __init__(self) -> None:
        self._seen: dict[str, ClusterCounts] | None = None
        self._took: dict[str, ActivationState] = {}
        """Per instance id, the traffic it took last: LIVE or SHADOW."""
        self._counted: tuple[State | None, dict[str, str]] = (None, {})
        """The state, and the service of each instance cluster whose answers reached callers
        (worked out once per state: a tick costs the clusters with counts, not the mesh)."""

    def add(self, state: State, clusters: Mapping[str, ClusterCounts]) -> dict[str, Answered]:
        """Per service, what its callers got since the last call; the first call is the zero
        (it says nothing: the counts before it are of unknown age)."""
        if self._counted[0] is not state:
            self._counted = (state, self._callers_clusters(state))
        counted = self._counted[1]
        seen, self._seen = self._seen, dict(clusters)
        answered = {service: Answered() for service in state.services}
        if seen is None:
            return answered
        for name, now in clusters.items():
            service = counted.get(name)
            if service is None:
                continue
            delta = now - seen.get(name, ClusterCounts())
            answered[service] = answered.get(service, Answered()) + Answered(
                delta.requests, delta.errors
            )
        return answered

    def _callers_clusters(self, state: State) -> dict[str, str]:
        for record in state.instances.values():
            if record.state in TRAFFIC_STATES:
                self._took[record.instance.id] = record.state
        return {
            record.instance.cluster_name: record.instance.service
            for record in state.instances.values()
            if self._took.get(record.instance.id) is not ActivationState.SHADOW
        }
