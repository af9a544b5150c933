"""The default ledger: one SQLite file in WAL mode with synchronous=FULL.

FULL makes the commit that acknowledges a change wait for the WAL to reach the disk, so an
acknowledged change survives power loss, not only a crash of weir.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from controlplane.errors import StoreError
from controlplane.ledger._chain import (
    GENESIS,
    LedgerDamaged,
    Verified,
    links,
    read_head,
    verify,
    write_head,
)
from controlplane.ledger._rows import Row, entries_of, numbered, row_of
from controlplane.ledger._store import StaleSequence
from controlplane.model import Entry, ProposedEntry

log = logging.getLogger(__name__)

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

_CHAIN_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_chain (
    seq  INTEGER PRIMARY KEY,
    hash TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS ledger_chain_append_only_update BEFORE UPDATE ON ledger_chain
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_chain_append_only_delete BEFORE DELETE ON ledger_chain
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"""
"""The hash chain over the ledger's rows (ledger/_chain.py): one hash per seq."""


_SEQS_PER_QUERY = 500
"""Under SQLite's oldest limit on parameters in one statement (999)."""


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._on_disk = self.path not in ("", ":memory:") and not self.path.startswith("file:")
        """An in-memory ledger (tests, tools) has no file, so no head file beside it."""
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.executescript(_CHAIN_SCHEMA)
            self._seal_unchained()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the ledger at {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._held: int | None = None
        """The descriptor of the lock file while this process serves the ledger alone."""

    def hold_exclusively(self) -> None:
        """Take the ledger for this process alone, until `close()` or the process ends.

        One process writes a SQLite ledger: a second `weir serve` on the same file would serve
        its Envoys a state of its own, and take changes (and tokens) the first never sees. An
        exclusive flock on `<ledger>.lock` (which holds the holder's pid) keeps it out; the
        kernel releases it when the holder exits, however it exits. Readers (`weir ledger
        verify`, backups) need no lock."""
        path = f"{self.path}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot lock the ledger at {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"the ledger at {self.path} is already served by another weir serve (pid "
                f"{holder}): one process writes a SQLite ledger; stop that one first, or run "
                "replicas on PostgreSQL"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._held = fd

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
                    head = self._chain(rows, after_seq)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the ledger at {self.path}: {exc}") from exc
            if head is not None and self._on_disk:
                write_head(self.path, *head)
        return entries

    # The hash chain (ledger/_chain.py).

    def _chain(self, rows: Sequence[Row], after_seq: int) -> tuple[int, str] | None:
        """Hash `rows`, appended after `after_seq`, into the chain (inside the append's
        transaction); the new head (seq, hash)."""
        previous = GENESIS
        if after_seq:
            found = self._db.execute(
                "SELECT hash FROM ledger_chain WHERE seq = ?", (after_seq,)
            ).fetchone()
            if found is None:
                raise LedgerDamaged(
                    f"the ledger at {self.path} is damaged at seq {after_seq}: the entry has "
                    "no hash; nothing was written (weir ledger verify)",
                    seq=after_seq,
                )
            previous = found[0]
        hashes = links(previous, rows)
        self._db.executemany("INSERT INTO ledger_chain VALUES (?, ?)", hashes)
        return hashes[-1] if hashes else None

    def _seal_unchained(self) -> None:
        """Chain a ledger written before hash chains, as it is found (once: a ledger with any
        hash is never sealed again, so rows added or edited behind weir's back stay caught)."""
        if self._db.execute("SELECT 1 FROM ledger_chain LIMIT 1").fetchone() is not None:
            return
        rows = self._db.execute("SELECT * FROM ledger ORDER BY seq").fetchall()
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT INTO ledger_chain VALUES (?, ?)", links(GENESIS, rows))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        log.warning("sealed %d ledger entries written before hash chains: %s", len(rows), self.path)

    def verify(self) -> Verified:
        """Check every entry against the hash chain, and the end of the ledger against its
        head file; LedgerDamaged names the first seq where it breaks."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "SELECT l.seq, l.at, l.actor, l.reason, l.kind, l.body, c.hash "
                    "FROM ledger l LEFT JOIN ledger_chain c USING (seq) ORDER BY l.seq"
                )
                pairs = ((tuple(r[:6]), r[6]) for r in cursor)
                head = read_head(self.path) if self._on_disk else None
                return verify(pairs, self.path, head=head)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the ledger at {self.path}: {exc}") from exc

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
            if self._held is not None:
                os.close(self._held)  # releases the flock
                self._held = None
