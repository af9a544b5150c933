"""The driver: every interval, ask the planner about each rollout in progress and append what
it proposes, as actor `rollout`, through the controller like any operator.

It keeps nothing the ledger does not: a driver started on a restarted controller carries on
from the last step the ledger holds. What it does keep is why its last attempt for a rollout
was refused (an exhausted error budget, a race with an operator), for status to show.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from controlplane._ticks import every
from controlplane.control import Controller
from controlplane.errors import WeirError
from controlplane.model import Entry
from controlplane.rollout._planner import Action, Advance, grace_action, next_action

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.5


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RolloutDriver:
    def __init__(
        self,
        controller: Controller,
        *,
        clock: Callable[[], datetime] = _utcnow,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self._controller = controller
        self._clock = clock
        self._interval_s = interval_s
        self._refusals: dict[str, str] = {}
        self.running = False

    def refusal(self, rollout_id: str) -> str | None:
        """Why the driver's last attempt to move this rollout on was refused, if it was."""
        return self._refusals.get(rollout_id)

    async def run(self) -> None:
        """Drive rollouts until cancelled. One failed tick never ends the loop."""
        self.running = True
        try:
            await every(self._interval_s, self._tick)
        finally:
            self.running = False

    async def _tick(self) -> None:
        try:
            await self.step()
        except Exception:
            log.exception("rollout driver step failed")

    async def step(self) -> list[Entry]:
        """Move each rollout in progress on by at most one batch, and retire what completed
        rollouts replaced once their grace is over; the entries appended."""
        appended: list[Entry] = []
        state = self._controller.state
        last = {r.service: r for r in state.rollouts.values()}
        due = [r.id for r in state.rollouts.values() if r.active or last[r.service] is r]
        for rollout_id in due:
            state = self._controller.state  # fresh: the previous rollout's batch moved it on
            rollout = state.rollouts[rollout_id]
            now = self._clock()
            if rollout.active:
                action: Action | None = next_action(state, rollout, now)
            else:
                action = grace_action(state, rollout, now)
            if not isinstance(action, Advance):
                self._refusals.pop(rollout_id, None)
                continue
            try:
                entries = await asyncio.to_thread(self._controller.submit, action.batch)
            except WeirError as exc:
                if self._controller.state.rollouts.get(rollout_id) is not rollout:
                    continue  # another writer moved it meanwhile (a promote): a lost race
                if self._refusals.get(rollout_id) != exc.message:
                    log.warning("%s: refused: %s", action.summary, exc.message)
                self._refusals[rollout_id] = exc.message
                continue
            self._refusals.pop(rollout_id, None)
            log.info("%s (entries %d-%d)", action.summary, entries[0].seq, entries[-1].seq)
            appended += entries
        return appended
