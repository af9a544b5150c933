"""The append-only ledger and the stores that keep it; beside it, the error budget's history."""

from pathlib import Path

from controlplane.errors import InvalidInput
from controlplane.ledger._budgets import (
    BUCKET_S,
    Bucket,
    BudgetStore,
    PostgresBudgets,
    SqliteBudgets,
)
from controlplane.ledger._chain import LedgerDamaged, Verified
from controlplane.ledger._postgres import CHANNEL, PostgresStore, ledger_conninfo
from controlplane.ledger._sqlite import SqliteStore
from controlplane.ledger._store import Fenced, StaleSequence, Store

__all__ = [
    "BUCKET_S",
    "CHANNEL",
    "Bucket",
    "BudgetStore",
    "Fenced",
    "LedgerDamaged",
    "PostgresStore",
    "SqliteStore",
    "StaleSequence",
    "Store",
    "Verified",
    "budgets_of",
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


def budgets_of(store: Store) -> BudgetStore | None:
    """Where the error budget's history lives beside `store`'s ledger: the same SQLite file or
    PostgreSQL database; None for another kind of store (the budget then lives in memory)."""
    if isinstance(store, PostgresStore):
        return PostgresBudgets(store.url, store.where)
    if isinstance(store, SqliteStore):
        return SqliteBudgets(store.path)
    return None
