"""The append-only ledger and the stores that keep it."""

from pathlib import Path

from controlplane.errors import InvalidInput
from controlplane.ledger._sqlite import SqliteStore
from controlplane.ledger._store import StaleSequence, Store

__all__ = ["SqliteStore", "StaleSequence", "Store", "open_store"]


def open_store(location: str) -> Store:
    """A store from `--store`: a file path, sqlite:///relative.db or sqlite:////abs/path.db."""
    if location.startswith("sqlite:///"):
        return SqliteStore(location.removeprefix("sqlite:///"))
    if location.startswith(("postgresql://", "postgres://")):
        raise InvalidInput(
            "the PostgreSQL store is not available in this version of weir; use a SQLite path",
            field="store",
        )
    if "://" in location:
        raise InvalidInput(
            f"unknown store {location!r}: give a file path, sqlite:///file.db or postgresql://…",
            field="store",
        )
    return SqliteStore(Path(location))
