"""The error budget's history in PostgreSQL, beside a shared ledger (see ledger/_budgets.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from controlplane.errors import StoreError
from controlplane.ledger._budgets import (
    _DROP_FOLDED,
    _DROP_OLD,
    _FOLD,
    _LOAD,
    Bucket,
    _buckets,
    _compact_cut,
    _rows,
)
from controlplane.ledger._store import Fenced

_PG_TABLE = """
CREATE TABLE IF NOT EXISTS weir_budget (
    service  text   NOT NULL,
    start    bigint NOT NULL,
    span     bigint NOT NULL,
    requests bigint NOT NULL,
    errors   bigint NOT NULL,
    PRIMARY KEY (service, start, span)
)
"""
_PG_TABLE_LOCK = 0x7765697202  # advisory key no other use shares (ledger ...00, leader ...01)


def create_postgres_budget_table(db: psycopg.Connection[Any]) -> None:
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_TABLE_LOCK,))
        db.execute(_PG_TABLE)


class PostgresBudgets:
    def __init__(self, url: str, where: str, *, connect_timeout_s: int = 5) -> None:
        self._url = url
        self.where = where
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._db: psycopg.Connection[Any] | None = None
        with self._lock:
            try:
                create_postgres_budget_table(self._connection())
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot open the error budget's history at {where}: {exc}"
                ) from exc

    def _connection(self) -> psycopg.Connection[Any]:
        if self._db is None or self._db.closed or self._db.broken:
            self._db = psycopg.connect(
                self._url, autocommit=True, connect_timeout=self._connect_timeout_s
            )
        return self._db

    def load(self, since: float) -> dict[str, list[Bucket]]:
        with self._lock:
            try:
                rows = self._connection().execute(_LOAD.format(p="%s"), (since,)).fetchall()
            except psycopg.Error as exc:
                raise StoreError(f"cannot read the error budget at {self.where}: {exc}") from exc
        return _buckets(rows)

    def save(self, buckets: Mapping[str, Sequence[Bucket]], *, term: int | None = None) -> None:
        def run(db: psycopg.Connection[Any]) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO weir_budget VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (service, start, span) DO UPDATE SET "
                    "requests = excluded.requests, errors = excluded.errors",
                    _rows(buckets),
                )

        self._transaction(run, term)

    def compact(self, now: float, windows: Mapping[str, float], *, term: int | None = None) -> None:
        def run(db: psycopg.Connection[Any]) -> None:
            cut = _compact_cut(now)
            db.execute(_FOLD.format(p="%s"), (cut,))
            db.execute(_DROP_FOLDED.format(p="%s"), (cut,))
            for service, window in windows.items():
                db.execute(_DROP_OLD.format(p="%s"), (service, now - window))

        self._transaction(run, term)

    def _transaction(self, work: Any, term: int | None) -> None:
        with self._lock:
            try:
                db = self._connection()
                with db.transaction():
                    if term is not None:
                        row = db.execute("SELECT term FROM weir_leader FOR SHARE").fetchone()
                        current = row[0] if row else None
                        if current != term:
                            raise Fenced(
                                f"leadership lost: this replica's term {term} is over (the "
                                f"leader's term is now {current}); the budget was not written"
                            )
                    work(db)
            except psycopg.Error as exc:
                raise StoreError(f"cannot write the error budget at {self.where}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
