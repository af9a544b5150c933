"""SqliteStore: an append-only, gap-free, durable ledger in one SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.control import Controller
from controlplane.errors import StoreError
from controlplane.ledger import SqliteStore, StaleSequence
from controlplane.model import Activation, ActivationChanged, Instance
from tests.unit._builders import AT, instance, proposed, service

BATCH = proposed(
    service("web"),
    instance("blue"),
    ActivationChanged(
        instance_id="blue", service="web", before=Activation.inactive(), after=Activation.live(1)
    ),
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "weir.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path)
    yield store
    store.close()


def test_what_is_appended_reads_back_the_same(store: SqliteStore) -> None:
    written = store.append(BATCH, after_seq=0, at=AT)
    assert [e.seq for e in written] == [1, 2, 3]
    assert [e.event for e in written] == [p.event for p in BATCH]
    assert all(e.at == AT and e.actor == "test" for e in written)
    assert store.read() == written
    assert store.read(after_seq=2) == written[2:]


def test_sequence_numbers_are_gap_free_across_appends(store: SqliteStore) -> None:
    store.append(BATCH[:1], after_seq=0, at=AT)
    store.append(BATCH[1:], after_seq=1, at=AT)
    assert [e.seq for e in store.read()] == [1, 2, 3]


@pytest.mark.parametrize("after_seq", [0, 2], ids=["behind", "ahead"])
def test_an_append_after_a_stale_sequence_is_refused(store: SqliteStore, after_seq: int) -> None:
    store.append(BATCH[:1], after_seq=0, at=AT)
    with pytest.raises(StaleSequence, match="the ledger is at 1"):
        store.append(BATCH[1:], after_seq=after_seq, at=AT)
    assert [e.seq for e in store.read()] == [1]


def test_a_batch_that_fails_halfway_writes_nothing(store: SqliteStore, path: Path) -> None:
    # Given a ledger that will refuse its third row
    with sqlite3.connect(path) as other:
        other.execute(
            "CREATE TRIGGER no_third BEFORE INSERT ON ledger WHEN NEW.seq = 3 "
            "BEGIN SELECT RAISE(ABORT, 'not the third'); END"
        )
    # When a three-entry batch is appended
    with pytest.raises(StoreError, match="not the third"):
        store.append(BATCH, after_seq=0, at=AT)
    # Then neither of the first two rows was kept, and the store still works
    assert store.read() == []
    with sqlite3.connect(path) as other:
        other.execute("DROP TRIGGER no_third")
    assert len(store.append(BATCH, after_seq=0, at=AT)) == 3


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger SET actor = 'mallory'", "DELETE FROM ledger WHERE seq = 1"]
)
def test_rows_cannot_be_updated_or_deleted(store: SqliteStore, path: Path, statement: str) -> None:
    store.append(BATCH, after_seq=0, at=AT)
    other = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            other.execute(statement)
    finally:
        other.close()
    assert store.read()[0].actor == "test" and len(store.read()) == 3


def test_wal_and_synchronous_full_are_in_force(store: SqliteStore, path: Path) -> None:
    # journal_mode is a property of the file; synchronous one of the store's own connection.
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 = FULL


def test_a_reopened_store_holds_the_same_entries_and_state(path: Path) -> None:
    # Given a controller that recorded a small history, then stopped
    store = SqliteStore(path)
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

    # When it starts again on the same file
    reopened = SqliteStore(path)
    again = Controller(reopened)

    # Then the ledger and the state folded from it are what they were
    assert reopened.read() == before
    assert again.state == state
    reopened.close()


def test_a_ledger_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the ledger"):
        SqliteStore(tmp_path / "no-such-dir" / "weir.db")
