"""The latest snapshot of resources, rebuilt after ledger appends, and a way to wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Protocol

from controlplane.model import Activation, ActivationState, InstanceState, State
from controlplane.resources import InconsistentResources, ResourceBuilder, Resources
from controlplane.xds._coalesce import Coalescer

log = logging.getLogger(__name__)

PUBLISH_SPACING = 10.0
"""Publications are at least ten times as far apart as the last one took (see Coalescer):
publishing keeps to about a tenth of the time under a steady stream of changes."""
LONGEST_GAP_S = 1.0
DRAIN_S = 3.0
"""How long a retired instance's cluster stays in the snapshot after its retirement, with no
route to it. Envoy drops a removed cluster's stats with the cluster, so what the instance
served since the proxy's last stats flush (one a second) would never reach the budget or the
evaluator: an instance retired the moment it left traffic took its last second's failures
with it."""


class StateSource(Protocol):
    """What the cache needs of the Controller: its state, and a call after every append."""

    @property
    def state(self) -> State: ...
    def subscribe(self, listener: Callable[[State], None]) -> None: ...


class SnapshotCache:
    """Holds the newest consistent snapshot. Streams `watch()` it to be told of the next one.

    The controller calls back from whichever thread appended; the state is handed to the event
    loop, newest ledger sequence winning, and coalesced (`coalesce_s`, see Coalescer): a lone
    change is built and published at once, a burst at most once per window with its newest
    state; the window stretches to ten times what the last publication took (at most 1 s).
    Snapshots are built off the loop, one at a time, so streams keep moving meanwhile.
    """

    def __init__(
        self,
        controller: StateSource,
        loop: asyncio.AbstractEventLoop,
        on_publish: Callable[[str], None] = lambda version: None,
        *,
        coalesce_s: float = 0.0,
        coalescer: Callable[..., Coalescer[State]] = Coalescer,
        build: Callable[[State], Resources] | None = None,
    ) -> None:
        """`coalescer` makes the Coalescer (tests pass one with a hand-driven clock); `build`
        turns a state into resources: a ResourceBuilder, the controller's in the xDS server (so
        nothing is encoded twice), by default one of the cache's own."""
        self._loop = loop
        self._build = build if build is not None else ResourceBuilder()
        self._seq = self._offered = controller.state.seq
        self._on_publish = on_publish
        self.snapshot: Resources = self._build(controller.state)
        self.published_at = time.time()
        """Where convergence starts for the current snapshot: the wall-clock time of the oldest
        ledger append it was the first to include (so the coalescing delay counts too)."""
        self._appended_at: float | None = None
        """When the oldest append not yet in a publication happened."""
        on_publish(self.snapshot.version)
        self._watchers: set[Callable[[], None]] = set()
        self._coalescer = coalescer(
            coalesce_s, self._publish, spacing=PUBLISH_SPACING, longest=LONGEST_GAP_S
        )
        self._task = loop.create_task(self._coalescer.run())
        self._state = controller.state
        """The newest state published (without the draining clusters)."""
        self._draining: dict[str, float] = {}
        """Instance id → when (loop time) its retired cluster may leave the snapshot."""
        self._drain_timer: asyncio.TimerHandle | None = None
        controller.subscribe(self._on_state)

    def close(self) -> None:
        """Stop publishing (the controller may outlive the xDS server)."""
        self._task.cancel()
        if self._drain_timer is not None:
            self._drain_timer.cancel()

    def _on_state(self, state: State) -> None:
        if self._task.done():
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to push to
            self._loop.call_soon_threadsafe(self._offer, state, time.time())

    def _offer(self, state: State, appended_at: float) -> None:
        if state.seq > self._offered:  # appends from several threads may arrive out of order
            self._offered = state.seq
            if self._appended_at is None:
                self._appended_at = appended_at
            self._coalescer.offer(state)

    async def _publish(self, state: State) -> None:
        appended_at, self._appended_at = self._appended_at, None
        self._note_retired(self._state, state)
        try:
            snapshot = await asyncio.to_thread(self._build, self._drained(state))
        except InconsistentResources:
            log.exception("not pushing ledger entry %d: its resources are inconsistent", state.seq)
            return
        if state.seq <= self._seq:
            return
        self._seq, self._state = state.seq, state
        self._install(snapshot, appended_at if appended_at is not None else time.time())
        self._drain_later()

    def _install(self, snapshot: Resources, published_at: float) -> None:
        self.snapshot = snapshot
        self.published_at = published_at
        self._on_publish(snapshot.version)
        for wake in list(self._watchers):
            wake()

    def _note_retired(self, before: State, after: State) -> None:
        """Start the drain of each instance `after` retired."""
        if after.seq <= before.seq:
            return
        until = self._loop.time() + DRAIN_S
        was, known = before.instances, before.service_records
        for service, records in after.service_records.items():
            if known.get(service) is records:
                continue  # the fold keeps an unchanged service's records as the same tuple
            for record in records:
                if record.state is ActivationState.RETIRED:
                    previous = was.get(record.instance.id)
                    if previous is not None and previous.state is not ActivationState.RETIRED:
                        self._draining[record.instance.id] = until

    def _drained(self, state: State) -> State:
        """`state` with each draining instance inactive again: its cluster is built, and no
        route names it (but a dark launch's pin would: those services' instances leave at once)."""
        now = self._loop.time()
        for instance_id, until in list(self._draining.items()):
            if until <= now:
                del self._draining[instance_id]
        if not self._draining:
            return state
        instances = dict(state.instances)
        services: set[str] = set()
        for instance_id in self._draining:
            record = instances.get(instance_id)
            if record is None or record.state is not ActivationState.RETIRED:
                continue
            pinning = state.services[record.instance.service].pinning
            if pinning is not None and pinning.enabled and pinning.dark_launch:
                continue
            instances[instance_id] = InstanceState(
                record.instance, Activation.inactive(), record.since_seq
            )
            services.add(record.instance.service)
        # the per-service index of the records too: the resource builder reads that one
        records = dict(state.service_records)
        for service in services:
            records[service] = tuple(instances[i] for i in state.instance_ids.get(service, ()))
        return replace(
            state,
            instances=MappingProxyType(instances),
            service_records=MappingProxyType(records),
        )

    def _drain_later(self) -> None:
        """Publish again when the next drain ends (the same state, less its cluster)."""
        if self._drain_timer is not None or not self._draining:
            return
        at = min(self._draining.values())
        self._drain_timer = self._loop.call_at(at, self._drain_ended)

    def _drain_ended(self) -> None:
        self._drain_timer = None
        if not self._task.done():
            self._loop.create_task(self._republish())

    async def _republish(self) -> None:
        state, seq = self._state, self._seq
        try:
            snapshot = await asyncio.to_thread(self._build, self._drained(state))
        except InconsistentResources:
            log.exception("not pushing ledger entry %d: its resources are inconsistent", seq)
            return
        if self._seq == seq and snapshot.version != self.snapshot.version:
            self._install(snapshot, time.time())
        self._drain_later()

    def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake()` on the event loop after every publication, until `unwatch(wake)`.

        One call per stream and publication: cheaper than a task per stream waiting on an
        event, which is what a connected stream would otherwise keep alive."""
        self._watchers.add(wake)

    def unwatch(self, wake: Callable[[], None]) -> None:
        self._watchers.discard(wake)
