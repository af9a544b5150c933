"""Ledger rows as both stores keep them — (seq, at, actor, reason, kind, body) — made from a
batch and read back as entries.

The body is the event's JSON and `at` an ISO 8601 time, so SQLite and PostgreSQL hold the very
same text and read it back the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from controlplane.errors import StoreError
from controlplane.model import Entry, Event, ProposedEntry

EVENT: TypeAdapter[Event] = TypeAdapter(Event)

Row = tuple[int, str, str, str, str, str]


def numbered(batch: Sequence[ProposedEntry], *, after_seq: int, at: datetime) -> list[Entry]:
    """The batch as entries numbered on from `after_seq`, all at `at`."""
    return [
        Entry(seq=after_seq + n, at=at, actor=p.actor, reason=p.reason, event=p.event)
        for n, p in enumerate(batch, start=1)
    ]


def row_of(entry: Entry) -> Row:
    """(seq, at, actor, reason, kind, body): what a store writes for `entry`."""
    return (
        entry.seq,
        entry.at.isoformat(),
        entry.actor,
        entry.reason,
        entry.event.kind,
        entry.event.model_dump_json(),
    )


def entries_of(rows: Iterable[tuple[Any, ...]], where: str) -> list[Entry]:
    """The entries of (seq, at, actor, reason, body) rows; a row that does not read back as an
    entry is a StoreError naming the ledger at `where`."""
    try:
        return [
            Entry(
                seq=seq,
                at=datetime.fromisoformat(at),
                actor=actor,
                reason=reason,
                event=EVENT.validate_json(body),
            )
            for seq, at, actor, reason, body in rows
        ]
    except ValidationError as exc:
        raise StoreError(f"the ledger at {where} holds an entry weir cannot read: {exc}") from exc
