"""The budget freeze under HA: the leader judges it, every replica enforces it.

A spent error budget refuses new live activations (Controller.gate_on_budget). The budget is
the evaluator's, and only the leader's evaluator runs: a follower asked to activate would not
know the service is frozen. So the leader records each service's freeze in PostgreSQL
(`weir_budget_freeze`: one row per frozen service, with the refusal an operator reads), and
every replica's gate, the leader's included, reads that table.

The freeze is derived state, judged anew every second, not a change to production: it lives
beside the ledger, not in it. The leader writes only when the set of frozen services changes,
fenced by its term in the same transaction. A new leader reads the budget's history its
predecessor wrote (controlplane.ledger.BudgetStore), so its judgement carries on; a service
whose budget has too few requests to judge keeps what was recorded: a failover neither lifts a
freeze nor imposes one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol

import psycopg

from controlplane.control import Controller, current_term
from controlplane.errors import StoreError
from controlplane.evaluator import Budget

log = logging.getLogger(__name__)

RECORD_EVERY_S = 1.0


class BudgetJudge(Protocol):
    """What the leader's evaluator says of a service's budget."""

    def budget(self, service: str) -> Budget: ...

    def budget_refusal(self, service: str) -> str | None: ...


class SharedFreeze:
    def __init__(
        self,
        url: str,
        controller: Controller,
        judge: BudgetJudge,
        *,
        every_s: float = RECORD_EVERY_S,
    ) -> None:
        self._url = url
        self._controller = controller
        self._judge = judge
        self._every_s = every_s
        self._recorded: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._db: psycopg.Connection[Any] | None = None

    # Every replica: the gate.

    def refusal(self, service: str) -> str | None:
        """Why `service` must not take new live traffic now, as the leader recorded it."""
        with self._lock:
            try:
                if self._db is None or self._db.closed or self._db.broken:
                    self._db = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                row = self._db.execute(
                    "SELECT reason FROM weir_budget_freeze WHERE service = %s", (service,)
                ).fetchone()
            except psycopg.Error as exc:
                raise StoreError(f"cannot read the budget freeze of {service!r}: {exc}") from exc
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # The leader: record.

    def judged(self) -> tuple[dict[str, str], set[str]]:
        """The services frozen now, with their refusal, and every service judged (the ones
        with enough data to say either way)."""
        frozen: dict[str, str] = {}
        judged: set[str] = set()
        for service in self._controller.state.services:
            if self._judge.budget(service).remaining is None:
                continue
            judged.add(service)
            if (reason := self._judge.budget_refusal(service)) is not None:
                frozen[service] = reason
        return frozen, judged

    async def run(self) -> None:
        """While leading (inside `leading(term)`): record the freeze when it changes."""
        term = current_term()
        if term is None:
            raise RuntimeError("the budget freeze is recorded by a leader, inside its term")
        self._recorded = None  # a new term: write what this leader judges at once
        while True:
            try:
                await self.record(term)
            except (psycopg.Error, OSError) as exc:
                log.warning("recording the budget freeze: %s; retrying", exc)
                self._recorded = None
            await asyncio.sleep(self._every_s)

    async def record(self, term: int) -> None:
        frozen, judged = self.judged()
        if self._recorded is not None:
            wanted = {s: r for s, r in self._recorded.items() if s not in judged} | frozen
            if wanted.keys() == self._recorded.keys():
                return
        async with (
            await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5
            ) as db,
            db.transaction(),
        ):
            row = await (await db.execute("SELECT term FROM weir_leader FOR SHARE")).fetchone()
            if row is None or row[0] != term:
                raise psycopg.OperationalError(
                    f"term {term} is over: the budget freeze was not recorded"
                )
            await db.execute(
                "DELETE FROM weir_budget_freeze WHERE service = ANY(%s) AND NOT service = ANY(%s)",
                (sorted(judged), sorted(frozen)),
            )
            for service, reason in sorted(frozen.items()):
                await db.execute(
                    "INSERT INTO weir_budget_freeze (service, reason, term) "
                    "VALUES (%s, %s, %s) ON CONFLICT (service) DO NOTHING",
                    (service, reason, term),
                )
            cursor = await db.execute("SELECT service, reason FROM weir_budget_freeze")
            self._recorded = {str(s): str(r) for s, r in await cursor.fetchall()}
        log.info("budget freeze recorded: %s", ", ".join(sorted(self._recorded)) or "none")
