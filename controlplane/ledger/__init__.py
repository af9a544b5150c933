"""The append-only ledger and the stores that keep it."""

from pathlib import Path

from controlplane.errors import InvalidInput
from controlplane.ledger._chain import LedgerDamaged, Verified
from controlplane.ledger._postgres import CHANNEL, PostgresStore, ledger_conninfo
from controlplane.ledger._sqlite import SqliteStore
from controlplane.ledger._store import Fenced, StaleSequence, Store

__all__ = [
    "CHANNEL",
    "Fenced",
    "LedgerDamaged",
    "PostgresStore",
    "SqliteStore",
    "StaleSequence",
    "Store",
    "Verified",
    "ledger_conninfo",
    "open_store",
]


def open_store(location: str) -> Store:
    """A store from `--store`: a file path, sqlite:///relative.db, sqlite:////abs/path.db, or
    postgresql://… (a ledger several replicas share)."""
    if location.startswith("sqlite:///"):
        return SqliteStore(location.removeprefix("sqlite:///"))
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresStore(location)
    if "://" in location:
        raise InvalidInput(
            f"unknown store {location!r}: give a file path, sqlite:///file.db or postgresql://…",
            field="store",
        )
    return SqliteStore(Path(location))
