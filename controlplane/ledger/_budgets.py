"""The error budget's history: per service, the requests answered to callers and how many of
them failed, in time buckets, kept in the same store as the ledger (SQLite or PostgreSQL).

Not the ledger: derived counts the evaluator writes as it goes, rewritten while a bucket is
open. One table:

    weir_budget (service, start, span) -> requests, errors

`span` is 60 for the last day's minute buckets and 3600 for older hour buckets:
`compact` folds minute buckets older than a day into their hours, and drops buckets older than
each service's window, so a service costs at most 1,440 + 24 a day of window rows. A bucket
written again replaces what was there (the writer holds the whole bucket).

SQLite: a connection of its own to the ledger's file with synchronous=NORMAL: in WAL mode a
commit survives the process being killed (only a power loss may take the last ones), without
an fsync each second. PostgreSQL: every write of the leader carries its term, checked in the
same transaction against `weir_leader`, as the ledger's are: a former leader cannot overwrite
its successor's buckets (ledger/_postgres_budgets.py, loaded only for a PostgreSQL store).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from controlplane.errors import StoreError

BUCKET_S = 60
HOUR_BUCKET_S = 3600
MINUTES_FOR_S = 86400
"""Minute buckets are kept this long, then folded into hour buckets."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """Requests answered to a service's callers in [start, start + span), and failed (5xx)."""

    start: int
    """Unix time, seconds; a multiple of span."""
    span: int
    requests: int
    errors: int

    @property
    def end(self) -> int:
        return self.start + self.span


class BudgetStore(Protocol):
    def load(self, since: float) -> dict[str, list[Bucket]]:
        """Every service's buckets that end after `since`, oldest first."""
        ...

    def save(self, buckets: Mapping[str, Sequence[Bucket]], *, term: int | None = None) -> None:
        """Write the buckets (each replacing its stored self) in one transaction. A leader's
        write carries its `term`: raise Fenced when the term is over, and write nothing."""
        ...

    def compact(self, now: float, windows: Mapping[str, float], *, term: int | None = None) -> None:
        """Fold minute buckets older than a day into hours; drop each service's buckets that
        ended more than its window (`windows`, seconds) before `now`."""
        ...

    def close(self) -> None: ...


def _compact_cut(now: float) -> int:
    """Minute buckets before this hour boundary are folded into hours."""
    return int((now - MINUTES_FOR_S) // HOUR_BUCKET_S * HOUR_BUCKET_S)


def _buckets(rows: Sequence[tuple[Any, ...]]) -> dict[str, list[Bucket]]:
    loaded: dict[str, list[Bucket]] = {}
    for service, start, span, requests, errors in rows:
        loaded.setdefault(str(service), []).append(
            Bucket(int(start), int(span), int(requests), int(errors))
        )
    return loaded


def _rows(buckets: Mapping[str, Sequence[Bucket]]) -> list[tuple[str, int, int, int, int]]:
    return [
        (service, b.start, b.span, b.requests, b.errors)
        for service, bs in buckets.items()
        for b in bs
    ]


_LOAD = (
    "SELECT service, start, span, requests, errors FROM weir_budget "
    "WHERE start + span > {p} ORDER BY service, start, span"
)
_FOLD = """
INSERT INTO weir_budget (service, start, span, requests, errors)
SELECT service, start / 3600 * 3600, 3600, SUM(requests), SUM(errors) FROM weir_budget
WHERE span = 60 AND start < {p} GROUP BY service, start / 3600 * 3600
ON CONFLICT (service, start, span) DO UPDATE SET
    requests = weir_budget.requests + excluded.requests,
    errors = weir_budget.errors + excluded.errors
"""
_DROP_FOLDED = "DELETE FROM weir_budget WHERE span = 60 AND start < {p}"
_DROP_OLD = "DELETE FROM weir_budget WHERE service = {p} AND start + span <= {p}"


# SQLite


def create_sqlite_budget_table(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS weir_budget (
            service  TEXT    NOT NULL,
            start    INTEGER NOT NULL,
            span     INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            errors   INTEGER NOT NULL,
            PRIMARY KEY (service, start, span)
        ) STRICT;
        """
    )


class SqliteBudgets:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA synchronous=NORMAL")
            create_sqlite_budget_table(self._db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the error budget's history at {path}: {exc}") from exc

    def load(self, since: float) -> dict[str, list[Bucket]]:
        with self._lock:
            try:
                rows = self._db.execute(_LOAD.format(p="?"), (since,)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the error budget at {self.path}: {exc}") from exc
        return _buckets(rows)

    def save(self, buckets: Mapping[str, Sequence[Bucket]], *, term: int | None = None) -> None:
        # `term` is not checked: a SQLite store has one process writing it (see SqliteStore).
        self._transaction(
            lambda db: db.executemany(
                "INSERT OR REPLACE INTO weir_budget VALUES (?, ?, ?, ?, ?)", _rows(buckets)
            )
        )

    def compact(self, now: float, windows: Mapping[str, float], *, term: int | None = None) -> None:
        def run(db: sqlite3.Connection) -> None:
            cut = _compact_cut(now)
            db.execute(_FOLD.format(p="?"), (cut,))
            db.execute(_DROP_FOLDED.format(p="?"), (cut,))
            for service, window in windows.items():
                db.execute(_DROP_OLD.format(p="?"), (service, now - window))

        self._transaction(run)

    def _transaction(self, work: Any) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    work(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the error budget at {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
