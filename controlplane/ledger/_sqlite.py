"""The default ledger: one SQLite file in WAL mode with synchronous=FULL.

FULL makes the commit that acknowledges a change wait for the WAL to reach the disk, so an
acknowledged change survives power loss, not only a crash of weir.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from controlplane.errors import StoreError
from controlplane.ledger._rows import entries_of, numbered, row_of
from controlplane.ledger._store import StaleSequence
from controlplane.model import Entry, ProposedEntry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq    INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS ledger_append_only_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_append_only_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"""


_SEQS_PER_QUERY = 500
"""Under SQLite's oldest limit on parameters in one statement (999)."""


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the ledger at {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def append(
        self,
        batch: Sequence[ProposedEntry],
        *,
        after_seq: int,
        at: datetime,
        term: int | None = None,
    ) -> list[Entry]:
        # `term` is not checked: a SQLite ledger has one process writing it, never a rival
        # leader to fence off (weir serve elects leaders on PostgreSQL only).
        entries = numbered(batch, after_seq=after_seq, at=at)
        rows = [row_of(e) for e in entries]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    (last,) = self._db.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM ledger"
                    ).fetchone()
                    if last != after_seq:
                        raise StaleSequence(
                            f"the ledger is at {last}, not {after_seq}: re-read and retry"
                        )
                    self._db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?)", rows)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the ledger at {self.path}: {exc}") from exc
        return entries

    def read(self, after_seq: int = 0) -> list[Entry]:
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, at, actor, reason, body FROM ledger WHERE seq > ? ORDER BY seq",
                    (after_seq,),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the ledger at {self.path}: {exc}") from exc
        return entries_of(rows, str(self.path))

    def read_seqs(self, seqs: Sequence[int]) -> list[Entry]:
        rows = []
        with self._lock:
            try:
                for start in range(0, len(seqs), _SEQS_PER_QUERY):
                    chunk = seqs[start : start + _SEQS_PER_QUERY]
                    marks = ",".join("?" * len(chunk))
                    rows += self._db.execute(
                        f"SELECT seq, at, actor, reason, body FROM ledger WHERE seq IN ({marks}) "
                        "ORDER BY seq",
                        tuple(chunk),
                    ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the ledger at {self.path}: {exc}") from exc
        return entries_of(rows, str(self.path))

    def close(self) -> None:
        with self._lock:
            self._db.close()
