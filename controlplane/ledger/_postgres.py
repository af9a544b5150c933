"""The ledger several replicas share: PostgreSQL, for high availability.

The sequence is gap-free because it is assigned in the appending transaction under an
EXCLUSIVE table lock (max(seq)+1), never by a PostgreSQL SEQUENCE, whose numbers a rolled-back
transaction loses. Readers are not blocked by that lock. After the commit, NOTIFY rings a
doorbell on channel `weir_ledger`; it carries nothing, replicas re-read from their last seq.

A write made by the leader carries its term (the fencing token); it is compared with the term
in `weir_leader` in the same transaction, under that row's lock, so a write from a leader whose
term ended (paused, partitioned) is refused and leaves the ledger as it was. Elections take the
same row lock to start a term, so a term's writes all commit before the next term begins.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow

from controlplane.errors import StoreError
from controlplane.ledger._chain import GENESIS, LedgerDamaged, Verified, links, verify
from controlplane.ledger._rows import Row, entries_of, numbered, row_of
from controlplane.ledger._store import Fenced, StaleSequence
from controlplane.model import Entry, ProposedEntry

log = logging.getLogger(__name__)

CHANNEL = "weir_ledger"
_SCHEMA_LOCK = 0x7765697200  # pg_advisory_xact_lock key: replicas create the schema one at a time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq    bigint PRIMARY KEY,
    at     text   NOT NULL,
    actor  text   NOT NULL,
    reason text   NOT NULL,
    kind   text   NOT NULL,
    body   text   NOT NULL,
    term   bigint            -- the leader's term for a fenced write; NULL for an operator's
);
CREATE OR REPLACE FUNCTION weir_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$;
CREATE OR REPLACE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION weir_append_only();
CREATE TABLE IF NOT EXISTS weir_leader (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    term   bigint NOT NULL,
    holder text   NOT NULL
);
INSERT INTO weir_leader (term, holder) VALUES (0, '') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS weir_terms (
    term      bigint PRIMARY KEY,
    holder    text        NOT NULL,
    began_at  timestamptz NOT NULL DEFAULT now(),
    after_seq bigint      NOT NULL  -- the last entry of the ledger when this term began
);
CREATE OR REPLACE TRIGGER weir_terms_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON weir_terms FOR EACH STATEMENT EXECUTE FUNCTION weir_append_only();
-- The hash chain over the ledger's rows (ledger/_chain.py), written with them.
CREATE TABLE IF NOT EXISTS ledger_chain (
    seq  bigint PRIMARY KEY,
    hash text   NOT NULL
);
CREATE OR REPLACE TRIGGER ledger_chain_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON ledger_chain FOR EACH STATEMENT EXECUTE FUNCTION weir_append_only();
-- Not the ledger: derived state the leader judges anew every second (controlplane.ha).
CREATE TABLE IF NOT EXISTS weir_budget_freeze (
    service text        PRIMARY KEY,
    reason  text        NOT NULL,   -- the refusal every replica's gate gives
    term    bigint      NOT NULL,   -- the term of the leader that recorded it
    since   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS weir_notify_cursor (
    one      boolean     PRIMARY KEY DEFAULT true CHECK (one),
    seq      bigint      NOT NULL,  -- the last entry whose webhooks were all done with
    saved_at timestamptz NOT NULL,
    term     bigint
);
-- Not the ledger either: each replica's latest stats readings, shared with the leader.
CREATE TABLE IF NOT EXISTS weir_stats_proxies (
    replica  text        NOT NULL,
    proxy    text        NOT NULL,
    heard_at timestamptz NOT NULL,
    PRIMARY KEY (replica, proxy)
);
CREATE TABLE IF NOT EXISTS weir_stats (
    replica      text     NOT NULL,
    proxy        text     NOT NULL,
    cluster      text     NOT NULL,
    own_counters boolean  NOT NULL,  -- the proxy's counters (admin), or a replica's receipts
    requests     bigint   NOT NULL,
    errors       bigint   NOT NULL,
    latency      bigint[] NOT NULL,
    PRIMARY KEY (replica, proxy, cluster),
    FOREIGN KEY (replica, proxy) REFERENCES weir_stats_proxies ON DELETE CASCADE
);
"""


LOCK_TIMEOUT_S = 5
"""The longest a ledger statement waits for a lock (another replica's append holds the table
lock for milliseconds): then it fails, and the write is reported failed, never landing later."""
IDLE_IN_TRANSACTION_TIMEOUT_S = 3
"""A session idle inside a transaction this long (a replica paused or cut off mid-append,
holding the table lock) is ended by PostgreSQL, releasing its locks: shorter than the lock
timeout, so the other replicas' writes wait for it, not fail."""
STATEMENT_TIMEOUT_S = 15
"""The longest any ledger statement may run."""


def ledger_conninfo(url: str) -> str:
    """`url` with the session settings every ledger connection runs with, added to whatever
    options the URL has: lock, idle-in-transaction and statement timeouts."""
    ours = (
        f"-c lock_timeout={LOCK_TIMEOUT_S}s "
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_S}s "
        f"-c statement_timeout={STATEMENT_TIMEOUT_S}s"
    )
    try:
        given = psycopg.conninfo.conninfo_to_dict(url).get("options") or ""
    except psycopg.ProgrammingError:
        given = ""  # psycopg says what is wrong with the URL when it connects
    return psycopg.conninfo.make_conninfo(url, options=f"{given} {ours}".strip())


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL URL given"
    user, host = info.get("user", ""), info.get("host", "")
    return f"postgresql://{user}@{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class PostgresStore:
    def __init__(self, url: str, *, connect_timeout_s: int = 5) -> None:
        self.url = url
        self.where = _redacted(url)
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._db: psycopg.Connection[TupleRow] | None = None
        try:
            with self._lock:
                db = self._connection()
                with db.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    db.execute(_SCHEMA)
                    self._seal_unchained(db)
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"cannot open the ledger at {self.where}: {exc}") from exc

    def _connection(self) -> psycopg.Connection[TupleRow]:
        """The store's connection, opened again if the last one broke (callers hold the lock)."""
        if self._db is None or self._db.closed or self._db.broken:
            self._db = psycopg.connect(
                ledger_conninfo(self.url),
                autocommit=True,
                connect_timeout=self._connect_timeout_s,
            )
        return self._db

    def append(
        self,
        batch: Sequence[ProposedEntry],
        *,
        after_seq: int,
        at: datetime,
        term: int | None = None,
    ) -> list[Entry]:
        entries = numbered(batch, after_seq=after_seq, at=at)
        rows = [(*row_of(e), term) for e in entries]
        with self._lock:
            try:
                db = self._connection()
                with db.transaction():
                    if term is not None:
                        # The row lock also holds off an election until this write commits.
                        row = db.execute("SELECT term FROM weir_leader FOR UPDATE").fetchone()
                        current = row[0] if row else None
                        if current != term:
                            raise Fenced(
                                f"leadership lost: this replica's term {term} is over (the "
                                f"leader's term is now {current}); nothing was written"
                            )
                    db.execute("LOCK TABLE ledger IN EXCLUSIVE MODE")
                    row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger").fetchone()
                    last = row[0] if row else 0
                    if last != after_seq:
                        raise StaleSequence(
                            f"the ledger is at {last}, not {after_seq}: re-read and retry"
                        )
                    with db.cursor() as cursor:
                        cursor.executemany(
                            "INSERT INTO ledger VALUES (%s, %s, %s, %s, %s, %s, %s)", rows
                        )
                    self._chain(db, [row[:6] for row in rows], after_seq)
                    db.execute(f"NOTIFY {CHANNEL}")  # delivered on commit, only if it commits
            except psycopg.Error as exc:
                raise StoreError(f"cannot write the ledger at {self.where}: {exc}") from exc
        return entries

    # The hash chain (ledger/_chain.py).

    def _chain(self, db: psycopg.Connection[TupleRow], rows: Sequence[Row], after_seq: int) -> None:
        """Hash `rows`, appended after `after_seq`, into the chain, in the append's
        transaction."""
        previous = GENESIS
        if after_seq:
            found = db.execute(
                "SELECT hash FROM ledger_chain WHERE seq = %s", (after_seq,)
            ).fetchone()
            if found is None:
                raise LedgerDamaged(
                    f"the ledger at {self.where} is damaged at seq {after_seq}: the entry has "
                    "no hash; nothing was written (weir ledger verify)",
                    seq=after_seq,
                )
            previous = found[0]
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO ledger_chain VALUES (%s, %s)", links(previous, rows))

    def _seal_unchained(self, db: psycopg.Connection[TupleRow]) -> None:
        """Chain a ledger written before hash chains, as it is found (once; see SqliteStore)."""
        if db.execute("SELECT 1 FROM ledger_chain LIMIT 1").fetchone() is not None:
            return
        rows = db.execute(
            "SELECT seq, at, actor, reason, kind, body FROM ledger ORDER BY seq"
        ).fetchall()
        if rows:
            with db.cursor() as cursor:
                cursor.executemany("INSERT INTO ledger_chain VALUES (%s, %s)", links(GENESIS, rows))
            log.warning("sealed %d ledger entries written before hash chains", len(rows))

    def verify(self) -> Verified:
        """Check every entry against the hash chain; LedgerDamaged names the first seq where
        it breaks."""
        with self._lock:
            try:
                rows = (
                    self._connection()
                    .execute(
                        "SELECT l.seq, l.at, l.actor, l.reason, l.kind, l.body, c.hash "
                        "FROM ledger l LEFT JOIN ledger_chain c USING (seq) ORDER BY l.seq"
                    )
                    .fetchall()
                )
            except psycopg.Error as exc:
                raise StoreError(f"cannot read the ledger at {self.where}: {exc}") from exc
        return verify(((tuple(r[:6]), r[6]) for r in rows), self.where)

    def read(self, after_seq: int = 0) -> list[Entry]:
        with self._lock:
            try:
                rows = (
                    self._connection()
                    .execute(
                        "SELECT seq, at, actor, reason, body FROM ledger WHERE seq > %s "
                        "ORDER BY seq",
                        (after_seq,),
                    )
                    .fetchall()
                )
            except psycopg.Error as exc:
                raise StoreError(f"cannot read the ledger at {self.where}: {exc}") from exc
        return entries_of(rows, str(self.where))

    def read_seqs(self, seqs: Sequence[int]) -> list[Entry]:
        with self._lock:
            try:
                rows = (
                    self._connection()
                    .execute(
                        "SELECT seq, at, actor, reason, body FROM ledger WHERE seq = ANY(%s) "
                        "ORDER BY seq",
                        (list(seqs),),
                    )
                    .fetchall()
                )
            except psycopg.Error as exc:
                raise StoreError(f"cannot read the ledger at {self.where}: {exc}") from exc
        return entries_of(rows, str(self.where))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
