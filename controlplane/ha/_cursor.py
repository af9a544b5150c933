"""Where webhook delivery got to, kept in PostgreSQL so a new leader carries on from there.

One row: the last ledger seq whose notifications every webhook is done with, saved by the
leader's notifier when its queues drain (and re-saved every minute while idle), fenced by its
term. A cursor not saved for `max_age_s` is ignored: notifications were off, or the last
leader was stuck for long; a new leader then starts from the ledger as it finds it rather
than replay an unknown stretch of history.
"""

from __future__ import annotations

import psycopg

from controlplane.control import current_term

MAX_AGE_S = 600.0


class PostgresCursor:
    def __init__(self, url: str, *, max_age_s: float = MAX_AGE_S) -> None:
        self._url = url
        self._max_age_s = max_age_s

    async def load(self) -> int | None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=5
        ) as db:
            cursor = await db.execute(
                "SELECT seq FROM weir_notify_cursor "
                "WHERE saved_at >= now() - make_interval(secs => %s)",
                (self._max_age_s,),
            )
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def save(self, seq: int) -> None:
        """Saved only while this replica's term (if it has one) is the leader's."""
        term = current_term()
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=5
        ) as db:
            await db.execute(
                "INSERT INTO weir_notify_cursor (seq, saved_at, term) "
                "SELECT %(seq)s, now(), %(term)s FROM weir_leader "
                "WHERE %(term)s IS NULL OR term = %(term)s "
                "ON CONFLICT (one) DO UPDATE SET seq = EXCLUDED.seq, "
                "saved_at = EXCLUDED.saved_at, term = EXCLUDED.term",
                {"seq": seq, "term": term},
            )
