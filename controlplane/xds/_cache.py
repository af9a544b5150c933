"""The latest snapshot of resources, rebuilt after every ledger append, and a way to wait for it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from controlplane.control import Controller
from controlplane.model import State
from controlplane.resources import InconsistentResources, Resources, build_resources

log = logging.getLogger(__name__)


class SnapshotCache:
    """Holds the newest consistent snapshot. Streams wait on `newer_than()` for the next one.

    The controller calls back from whichever thread appended; the snapshot is built there and
    handed to the event loop, newest ledger sequence winning, so a slow builder never
    publishes an older state over a newer one.
    """

    def __init__(
        self,
        controller: Controller,
        loop: asyncio.AbstractEventLoop,
        on_publish: Callable[[str], None] = lambda version: None,
    ) -> None:
        self._loop = loop
        self._seq = controller.state.seq
        self._on_publish = on_publish
        self.snapshot: Resources = build_resources(controller.state)
        self.published_at = time.time()
        """Wall-clock time the current snapshot was published: where convergence starts."""
        on_publish(self.snapshot.version)
        self._changed = asyncio.Event()
        controller.subscribe(self._on_state)

    def _on_state(self, state: State) -> None:
        try:
            snapshot = build_resources(state)
        except InconsistentResources:
            log.exception("not pushing ledger entry %d: its resources are inconsistent", state.seq)
            return
        self._loop.call_soon_threadsafe(self._publish, state.seq, snapshot)

    def _publish(self, seq: int, snapshot: Resources) -> None:
        if seq <= self._seq:
            return
        self._seq = seq
        self.snapshot = snapshot
        self.published_at = time.time()
        self._on_publish(snapshot.version)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def newer_than(self, seen: Resources) -> tuple[Resources, float]:
        """The current snapshot and its publication time as soon as it is not `seen` (at once
        if it already differs)."""
        while self.snapshot is seen:
            await self._changed.wait()
        return self.snapshot, self.published_at
