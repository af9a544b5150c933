"""The notifier: hears of every ledger append and of the budget freeze, tells every webhook.

It adds nothing to the write path. The controller calls its listener after each append (from
the appending thread); the listener only wakes the notifier's task on the loop, which reads the
new entries from the store there, turns them into notifications and queues them for each
webhook's sender. The budget is read the way the API reads it (the evaluator's `budget`), once
a second; a freeze and its end are each one notification.

    appended entries ─► read(after_seq) ─► notifications_of ─┬─► sender(url 1) ─► POST
    evaluator.budget(service), each second ─► frozen? ───────┴─► sender(url 2) ─► POST

On replicas the notifier runs on the leader only, and a new leader would start from the
ledger as it found it when its process started. With a `cursor` (PostgreSQL, controlplane.ha)
the leader saves the last seq whose notifications every webhook is done with (whenever all
queues are drained), and a new leader starts from there: what the old one delivered is not
sent again, what it had not is (at least once; ids are stable, see _events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import httpx

from controlplane.control import Controller, current_term
from controlplane.evaluator import Budget
from controlplane.model import Entry, State
from controlplane.notify._delivery import RetryPolicy, WebhookSender
from controlplane.notify._events import Notification, budget_notification, notifications_of

log = logging.getLogger(__name__)

ReadEntries = Callable[[int], list[Entry]]
"""The ledger's entries after a sequence number (Store.read)."""
BudgetOf = Callable[[str], Budget]
"""A service's error budget now (Evaluator.budget)."""

BUDGET_INTERVAL_S = 1.0
CURSOR_INTERVAL_S = 1.0
CURSOR_TOUCH_S = 60.0
"""An idle leader re-saves its cursor this often, so a recent cursor means a live one."""


class DeliveryCursor(Protocol):
    """Where replicas keep the last ledger seq whose notifications were delivered."""

    async def load(self) -> int | None:
        """The saved seq, or None when there is none worth starting from."""
        ...

    async def save(self, seq: int) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Notifier:
    def __init__(
        self,
        controller: Controller,
        read_entries: ReadEntries,
        urls: Sequence[str],
        *,
        budget: BudgetOf | None = None,
        http: httpx.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
        budget_interval_s: float = BUDGET_INTERVAL_S,
        clock: Callable[[], datetime] = _utcnow,
        cursor: DeliveryCursor | None = None,
    ) -> None:
        """`http` is the caller's client (closed by the caller); without one, `run` makes its
        own (no proxies from the environment, no redirects) and closes it when it ends."""
        self._controller = controller
        self._read = read_entries
        self._budget = budget
        self._http = http
        self.policy = policy or RetryPolicy()
        self.senders = [WebhookSender(url, policy=self.policy) for url in urls]
        self._budget_interval_s = budget_interval_s
        self._clock = clock
        self._seq = controller.state.seq
        """The last entry told of: the history before the notifier started is not news."""
        self._cursor = cursor
        self._saved: int | None = None
        self._frozen: dict[str, bool] = {}
        self._budget_counts: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._reading = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        controller.subscribe(self._appended)

    def _appended(self, state: State) -> None:
        """The controller's listener, in the appending thread: wake the loop, nothing more."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Watch the ledger and the budgets, and deliver, until cancelled."""
        self._loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            http = self._http
            if http is None:
                own = httpx.AsyncClient(
                    trust_env=False, follow_redirects=False, timeout=self.policy.timeout_s
                )
                http = await stack.enter_async_context(own)
            stack.callback(setattr, self, "_loop", None)
            if self._cursor is not None:
                await self._resume(self._cursor)
            async with asyncio.TaskGroup() as group:
                for sender in self.senders:
                    group.create_task(sender.run(http))
                group.create_task(self._watch())
                if self._cursor is not None:
                    group.create_task(self._keep_cursor(self._cursor))

    async def _resume(self, cursor: DeliveryCursor) -> None:
        """Start where the last leader's deliveries ended, if it saved where."""
        saved = await cursor.load()
        if saved is not None and saved != self._seq:
            log.info("notifications resume after seq %d (the last delivered)", saved)
            async with self._reading:
                self._seq = saved
        self._saved = saved
        self._wake.set()

    async def _keep_cursor(self, cursor: DeliveryCursor) -> None:
        touched = time.monotonic()
        while True:
            await asyncio.sleep(CURSOR_INTERVAL_S)
            seq = self._seq
            stale = time.monotonic() - touched >= CURSOR_TOUCH_S
            if self.idle and (seq != self._saved or stale):
                try:
                    await cursor.save(seq)
                    self._saved, touched = seq, time.monotonic()
                except Exception as exc:  # the next tick tries again
                    log.warning("saving the notification cursor: %s", exc)

    async def _watch(self) -> None:
        next_budget = time.monotonic()
        while True:
            timeout = max(0.0, next_budget - time.monotonic()) if self._budget else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.check_ledger()
                if self._budget is not None and time.monotonic() >= next_budget:
                    next_budget = time.monotonic() + self._budget_interval_s
                    self.check_budgets()
            except Exception:  # one bad read must not end notifications for good
                log.exception("notifications: reading the ledger or the budget failed")

    async def check_ledger(self) -> list[Notification]:
        """Queue the notifications of every entry appended since the last check."""
        async with self._reading:
            if self._controller.state.seq <= self._seq:
                return []
            entries = await asyncio.to_thread(self._read, self._seq)
            if not entries:
                return []
            self._seq = entries[-1].seq
        made = notifications_of(entries, self._controller.state)
        for notification in made:
            self.publish(notification)
        return made

    def check_budgets(self) -> list[Notification]:
        """Queue a notification for each service whose budget froze or recovered."""
        if self._budget is None:
            return []
        made = []
        for service in list(self._controller.state.services):
            budget = self._budget(service)
            frozen = budget.exhausted
            if frozen == self._frozen.get(service, False):
                continue
            self._frozen[service] = frozen
            count = self._budget_counts[service] = self._budget_counts.get(service, 0) + 1
            notification = budget_notification(
                budget, frozen=frozen, count=count, at=self._clock(), term=current_term()
            )
            self.publish(notification)
            made.append(notification)
        return made

    def publish(self, notification: Notification) -> None:
        for sender in self.senders:
            sender.offer(notification)

    @property
    def idle(self) -> bool:
        return all(sender.idle for sender in self.senders)

    async def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queued notification to be delivered or
        given up on; whether they all were."""
        await self.check_ledger()
        deadline = time.monotonic() + timeout
        while not self.idle:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True
