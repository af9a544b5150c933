"""The ledger's hash chain and a SQLite ledger's head file (ledger/_chain.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from controlplane.control import Controller
from controlplane.ledger import LedgerDamaged, SqliteStore
from controlplane.ledger._chain import (
    GENESIS,
    head_path,
    link,
    links,
    read_head,
    verify,
    write_head,
)
from controlplane.model import ServiceSpec

ROWS = [
    (1, "2026-01-01T00:00:00+00:00", "alice", "", "service_applied", '{"a":1}'),
    (2, "2026-01-01T00:00:01+00:00", "bob", "why", "service_applied", '{"b":2}'),
    (3, "2026-01-01T00:00:02+00:00", "alice", "", "service_applied", '{"c":3}'),
]


def chained() -> list[tuple[tuple[int, str, str, str, str, str], str | None]]:
    return [(row, h) for row, (_, h) in zip(ROWS, links(GENESIS, ROWS), strict=True)]


def test_an_intact_chain_verifies_to_its_last_entry() -> None:
    verified = verify(chained(), "test")
    assert (verified.entries, verified.last_seq) == (3, 3)
    assert verified.last_hash == link(link(link(GENESIS, ROWS[0]), ROWS[1]), ROWS[2])


@pytest.mark.parametrize(
    ("damage", "seq", "says"),
    [
        (
            lambda p: p.__setitem__(1, ((2, *ROWS[1][1:3], "edited", *ROWS[1][4:]), p[1][1])),
            2,
            "does not match",
        ),
        (lambda p: p.__delitem__(1), 2, "is missing"),
        (lambda p: p.__setitem__(2, (ROWS[2], None)), 3, "has no hash"),
        (lambda p: p.__setitem__(0, (ROWS[0], "0" * 64)), 1, "does not match"),
    ],
    ids=["edited", "missing", "unhashed", "bad-hash"],
)
def test_damage_is_named_by_its_seq(damage: object, seq: int, says: str) -> None:
    pairs = chained()
    damage(pairs)  # type: ignore[operator]
    with pytest.raises(LedgerDamaged, match=f"damaged at seq {seq}: .*{says}") as caught:
        verify(pairs, "test")
    assert caught.value.seq == seq


def test_a_head_beyond_the_ledger_means_lost_entries() -> None:
    with pytest.raises(LedgerDamaged, match="ends at seq 3, but seq 5 was written"):
        verify(chained(), "test", head=(5, "x"))
    with pytest.raises(LedgerDamaged, match="damaged at seq 2: it differs"):
        verify(chained(), "test", head=(2, "x"))
    assert verify(chained(), "test", head=(2, chained()[1][1] or "")).head_seq == 2


def test_every_append_extends_the_chain_and_the_head(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "weir.db")
    controller = Controller(store)
    for name in ("a", "b", "c"):
        controller.apply_service(ServiceSpec(name=name), actor="test")

    verified = store.verify()
    assert (verified.entries, verified.last_seq, verified.head_seq) == (3, 3, 3)
    assert (tmp_path / "weir.db.head").read_text() == f"3 {verified.last_hash}\n"


def test_a_ledger_from_before_hash_chains_is_sealed_once(tmp_path: Path) -> None:
    path = tmp_path / "weir.db"
    Controller(SqliteStore(path)).apply_service(ServiceSpec(name="a"), actor="test")
    with sqlite3.connect(path) as db:  # as a ledger written before chains: no hashes at all
        db.execute("DROP TABLE ledger_chain")
    (tmp_path / "weir.db.head").unlink()

    store = SqliteStore(path)  # sealed as found
    assert store.verify().entries == 1
    Controller(store).apply_service(ServiceSpec(name="b"), actor="test")  # and chained on
    with sqlite3.connect(path) as db:  # a later edit is caught: a chained ledger is not resealed
        db.execute("DROP TRIGGER ledger_append_only_update")
        db.execute("UPDATE ledger SET actor = 'x' WHERE seq = 1")
    with pytest.raises(LedgerDamaged, match="damaged at seq 1"):
        SqliteStore(path).verify()


def test_an_append_after_an_unhashed_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weir.db"
    store = SqliteStore(path)
    controller = Controller(store)
    controller.apply_service(ServiceSpec(name="a"), actor="test")
    with sqlite3.connect(path) as db:  # a row slipped in without its hash
        db.execute(
            "INSERT INTO ledger VALUES (2, '2026-01-01T00:00:00+00:00', 'x', '', "
            "'service_applied', '{}')"
        )
    with pytest.raises(LedgerDamaged, match="seq 2: the entry has no hash"):
        store.append([], after_seq=2, at=controller._clock())


def test_the_head_file_is_small_and_private(tmp_path: Path) -> None:
    write_head(tmp_path / "l.db", 12, "ab" * 32)
    head = tmp_path / "l.db.head"
    assert head.read_text() == f"12 {'ab' * 32}\n"
    assert head.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("dies_at", ["pwrite", "ftruncate"])
def test_a_head_write_cut_short_by_a_kill_leaves_a_readable_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies_at: str
) -> None:
    ledger = tmp_path / "l.db"
    write_head(ledger, 99, "ab" * 32)

    def killed(*args: object) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(os, dies_at, killed)
    with pytest.raises(SystemExit):
        write_head(ledger, 100, "cd" * 32)
    monkeypatch.undo()

    # before the new head was written: the old one, which lags (no error); after: the new one
    assert read_head(ledger) == ((99, "ab" * 32) if dies_at == "pwrite" else (100, "cd" * 32))


def test_an_empty_head_file_says_nothing_and_garbage_is_damage(tmp_path: Path) -> None:
    ledger = tmp_path / "l.db"
    head_path(ledger).write_bytes(b"")
    assert read_head(ledger) is None  # as after a power cut: an unsynced file may come back so
    head_path(ledger).write_bytes(b"\0" * 80)
    assert read_head(ledger) is None
    head_path(ledger).write_text("not a head\n")
    with pytest.raises(LedgerDamaged, match="is not a ledger head"):
        read_head(ledger)
