"""The store interface every ledger backend implements (SQLite, PostgreSQL for HA)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from controlplane.errors import StoreError
from controlplane.ledger._chain import Verified
from controlplane.model import Entry, ProposedEntry


class StaleSequence(StoreError):
    """The ledger moved on since the caller read it; re-read, re-check, retry."""

    status = 409


class Fenced(StoreError):
    """A leader's write carried a term that is over: another replica leads now."""

    status = 409


class Store(Protocol):
    def append(
        self,
        batch: Sequence[ProposedEntry],
        *,
        after_seq: int,
        at: datetime,
        term: int | None = None,
    ) -> list[Entry]:
        """Append the batch atomically right after entry `after_seq`, or raise StaleSequence.

        Returns the recorded entries, numbered after_seq+1, after_seq+2, ... Durable on return.
        `term` is the fencing token of a write the leader makes: if it is not the current
        term, raise Fenced and write nothing. None (an operator's write) is never fenced.
        """
        ...

    def read(self, after_seq: int = 0) -> list[Entry]:
        """Every entry after `after_seq`, in order."""
        ...

    def verify(self) -> Verified:
        """Check every entry against the ledger's hash chain (ledger/_chain.py); LedgerDamaged
        names the first seq where it breaks."""
        ...

    def read_seqs(self, seqs: Sequence[int]) -> list[Entry]:
        """The entries numbered `seqs` (ascending), in order: one service's history without
        reading every other's. Numbers the ledger does not hold are left out."""
        ...

    def close(self) -> None: ...
