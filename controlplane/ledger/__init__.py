"""The append-only ledger and the stores that keep it; beside it, the error budget's history.

The PostgreSQL stores (psycopg) load when first named or opened: a SQLite deployment, and
every module that only needs the Store protocol, runs without them.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.errors import InvalidInput
from controlplane.ledger._budgets import BUCKET_S, Bucket, BudgetStore, SqliteBudgets
from controlplane.ledger._chain import LedgerDamaged, Verified
from controlplane.ledger._sqlite import SqliteStore
from controlplane.ledger._store import Fenced, StaleSequence, Store

if TYPE_CHECKING:
    from controlplane.ledger._postgres import CHANNEL, PostgresStore, ledger_conninfo
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            "CHANNEL": "_postgres",
            "PostgresStore": "_postgres",
            "ledger_conninfo": "_postgres",
        },
    )

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
        from controlplane.ledger._postgres import PostgresStore

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
    if isinstance(store, SqliteStore):
        return SqliteBudgets(store.path)
    from controlplane.ledger._postgres import PostgresStore
    from controlplane.ledger._postgres_budgets import PostgresBudgets

    if isinstance(store, PostgresStore):
        return PostgresBudgets(store.url, store.where)
    return None
