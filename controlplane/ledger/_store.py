"""The store interface every ledger backend implements (SQLite now, PostgreSQL for HA)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from controlplane.errors import StoreError
from controlplane.model import Entry, ProposedEntry


class StaleSequence(StoreError):
    """The ledger moved on since the caller read it; re-read, re-check, retry."""

    status = 409


class Store(Protocol):
    def append(
        self, batch: Sequence[ProposedEntry], *, after_seq: int, at: datetime
    ) -> list[Entry]:
        """Append the batch atomically right after entry `after_seq`, or raise StaleSequence.

        Returns the recorded entries, numbered after_seq+1, after_seq+2, ... Durable on return.
        """
        ...

    def read(self, after_seq: int = 0) -> list[Entry]:
        """Every entry after `after_seq`, in order."""
        ...

    def close(self) -> None: ...
