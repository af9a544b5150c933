"""Every ledger store (SQLite, and PostgreSQL for HA) is append-only, gap-free, batch-atomic
and durable: the same tests, run against each. PostgreSQL is a real server (tests/conftest.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from controlplane.control import Controller
from controlplane.errors import StoreError
from controlplane.ledger import PostgresStore, SqliteStore, StaleSequence, Store
from controlplane.model import Activation, ActivationChanged, Instance
from tests.support._postgres import PostgresServer
from tests.unit._builders import AT, instance, proposed, service

BATCH = proposed(
    service("web"),
    instance("blue"),
    ActivationChanged(
        instance_id="blue", service="web", before=Activation.inactive(), after=Activation.live(1)
    ),
)


@dataclass
class Backend:
    """A way to open the store again, and to run SQL on it behind the store's back."""

    name: str
    open: Callable[[], Store]
    execute: Callable[[str], None]
    refusal: type[Exception]


def _sqlite(path: Path) -> Backend:
    def execute(sql: str) -> None:
        with sqlite3.connect(path) as other:
            other.executescript(sql)

    return Backend("sqlite", lambda: SqliteStore(path), execute, sqlite3.DatabaseError)


def _postgres(url: str) -> Backend:
    def execute(sql: str) -> None:
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(sql)

    return Backend("postgresql", lambda: PostgresStore(url), execute, psycopg.Error)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return _sqlite(tmp_path / "weir.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return _postgres(server.fresh_database())


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    store = backend.open()
    yield store
    store.close()


_THIRD_ROW_REFUSED = {
    "sqlite": (
        "CREATE TRIGGER no_third BEFORE INSERT ON ledger WHEN NEW.seq = 3 "
        "BEGIN SELECT RAISE(ABORT, 'not the third'); END",
        "DROP TRIGGER no_third",
    ),
    "postgresql": (
        "CREATE FUNCTION no_third() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.seq = 3 THEN RAISE EXCEPTION 'not the third'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER no_third BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION no_third()",
        "DROP TRIGGER no_third ON ledger",
    ),
}


def test_what_is_appended_reads_back_the_same(store: Store) -> None:
    written = store.append(BATCH, after_seq=0, at=AT)
    assert [e.seq for e in written] == [1, 2, 3]
    assert [e.event for e in written] == [p.event for p in BATCH]
    assert all(e.at == AT and e.actor == "test" for e in written)
    assert store.read() == written
    assert store.read(after_seq=2) == written[2:]


def test_entries_are_read_by_their_numbers(store: Store) -> None:
    written = store.append(BATCH, after_seq=0, at=AT)
    assert store.read_seqs([1, 3]) == [written[0], written[2]]
    assert store.read_seqs([2, 9]) == [written[1]]  # numbers it does not hold: left out
    assert store.read_seqs([]) == []


def test_sequence_numbers_are_gap_free_across_appends(store: Store) -> None:
    store.append(BATCH[:1], after_seq=0, at=AT)
    store.append(BATCH[1:], after_seq=1, at=AT)
    assert [e.seq for e in store.read()] == [1, 2, 3]


@pytest.mark.parametrize("after_seq", [0, 2], ids=["behind", "ahead"])
def test_an_append_after_a_stale_sequence_is_refused(store: Store, after_seq: int) -> None:
    store.append(BATCH[:1], after_seq=0, at=AT)
    with pytest.raises(StaleSequence, match="the ledger is at 1"):
        store.append(BATCH[1:], after_seq=after_seq, at=AT)
    assert [e.seq for e in store.read()] == [1]


def test_a_batch_that_fails_halfway_writes_nothing(store: Store, backend: Backend) -> None:
    # Given a ledger that will refuse its third row
    create, drop = _THIRD_ROW_REFUSED[backend.name]
    backend.execute(create)
    # When a three-entry batch is appended
    with pytest.raises(StoreError, match="not the third"):
        store.append(BATCH, after_seq=0, at=AT)
    # Then neither of the first two rows was kept, and the store still works
    assert store.read() == []
    backend.execute(drop)
    assert len(store.append(BATCH, after_seq=0, at=AT)) == 3


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger SET actor = 'mallory'", "DELETE FROM ledger WHERE seq = 1"]
)
def test_rows_cannot_be_updated_or_deleted(store: Store, backend: Backend, statement: str) -> None:
    store.append(BATCH, after_seq=0, at=AT)
    with pytest.raises(backend.refusal, match="append-only"):
        backend.execute(statement)
    assert store.read()[0].actor == "test" and len(store.read()) == 3


def test_a_reopened_store_holds_the_same_entries_and_state(backend: Backend) -> None:
    # Given a controller that recorded a small history, then stopped
    store = backend.open()
    first = Controller(store)
    first.apply_service(service("web", domains=("www",)).spec, actor="ops")
    for n, instance_id in enumerate(["blue", "green"]):
        address = f"127.0.0.1:{9000 + n}"
        first.add_instance(
            Instance(id=instance_id, service="web", version="v1", address=address), actor="ops"
        )
    first.change("blue", Activation.live(3), actor="ops", reason="first light")
    first.change("green", Activation.shadow(12.5), actor="ops")
    before, state = store.read(), first.state
    store.close()

    # When it starts again on the same ledger
    reopened = backend.open()
    again = Controller(reopened)

    # Then the ledger and the state folded from it are what they were
    assert reopened.read() == before
    assert again.state == state
    reopened.close()


def test_sqlite_wal_and_synchronous_full_are_in_force(tmp_path: Path) -> None:
    # journal_mode is a property of the file; synchronous one of the store's own connection.
    path = tmp_path / "weir.db"
    store = SqliteStore(path)
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 = FULL
    store.close()


def test_a_sqlite_ledger_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the ledger"):
        SqliteStore(tmp_path / "no-such-dir" / "weir.db")


def test_a_postgresql_ledger_that_cannot_be_reached_is_a_store_error(
    postgres: PostgresServer,
) -> None:
    url = postgres.url("no_such_database")
    with pytest.raises(StoreError, match="cannot open the ledger at postgresql://weir@") as caught:
        PostgresStore(url)
    assert "no_such_database" in caught.value.message
