"""The ledger's hash chain: every entry's hash covers its row and the hash before it.

Both stores keep, beside each row, `hash = sha256(previous hash, seq, at, actor, reason, kind,
body)`, written in the transaction that appends the row. An edited, damaged or reordered row
no longer matches its hash, nor does any later one; `verify` walks the chain and names the
first seq where it breaks. `weir serve` verifies the whole ledger before it serves it, and
`weir ledger verify` does so on demand.

A SQLite ledger also has a *head* file beside it (`<ledger>.head`: the last seq and hash
written), rewritten after every append. SQLite drops a damaged WAL frame and every commit
after it without a word; the ledger then still chains, just shorter. The head file says how
far it went: a ledger that ends before its head has lost entries. (It is not synced: after a
power cut it may lag behind the ledger, which is no error; it never runs ahead of it.)

A ledger written before hash chains has rows and no hashes: it is sealed as it is found, once,
and chained from then on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from controlplane.errors import StoreError
from controlplane.ledger._rows import Row

GENESIS = "weir-ledger-1"
"""The 'hash' before the first entry."""


class LedgerDamaged(StoreError):
    """The ledger does not match its hash chain (or its head): weir will not serve it."""

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


def link(previous: str, row: Row) -> str:
    """The hash of `row` following an entry whose hash is `previous`."""
    text = json.dumps([previous, *row], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def links(previous: str, rows: Iterable[Row]) -> list[tuple[int, str]]:
    """(seq, hash) for each of `rows`, appended after an entry whose hash is `previous`."""
    out = []
    for row in rows:
        previous = link(previous, row)
        out.append((row[0], previous))
    return out


@dataclass(frozen=True, slots=True)
class Verified:
    entries: int
    """Entries checked (all of them)."""
    last_seq: int
    last_hash: str
    head_seq: int | None = None
    """The seq the head file records (SQLite), if there is one."""


def verify(
    rows: Iterable[tuple[Row, str | None]], where: str, head: tuple[int, str] | None = None
) -> Verified:
    """Walk (row, stored hash) pairs in seq order; LedgerDamaged at the first that breaks, or
    if the ledger ends before `head` (seq, hash: what a head file says was written) or differs
    from it."""
    previous, expected_seq, count = GENESIS, 1, 0
    for row, stored in rows:
        seq = row[0]
        if seq != expected_seq:
            raise LedgerDamaged(
                f"the ledger at {where} is damaged at seq {expected_seq}: the entry is missing "
                f"(the next one is seq {seq})",
                seq=expected_seq,
            )
        if stored is None:
            raise LedgerDamaged(
                f"the ledger at {where} is damaged at seq {seq}: the entry has no hash",
                seq=seq,
            )
        previous = link(previous, row)
        if stored != previous:
            raise LedgerDamaged(
                f"the ledger at {where} is damaged at seq {seq}: the entry does not match its "
                "hash (edited or corrupted since it was written)",
                seq=seq,
            )
        if head is not None and seq == head[0] and previous != head[1]:
            raise LedgerDamaged(
                f"the ledger at {where} is damaged at seq {seq}: it differs from the entry "
                f"that was written ({where}.head)",
                seq=seq,
            )
        expected_seq, count = seq + 1, count + 1
    last_seq = expected_seq - 1
    if head is not None and head[0] > last_seq:
        raise LedgerDamaged(
            f"the ledger at {where} ends at seq {last_seq}, but seq {head[0]} was written "
            f"({where}.head): entries were lost (a damaged write-ahead log?); if this is a new "
            f"ledger on purpose, remove {where}.head",
            seq=last_seq + 1,
        )
    return Verified(count, last_seq, previous, head_seq=head[0] if head else None)


# The head file of a SQLite ledger.


def head_path(ledger: str | Path) -> Path:
    return Path(f"{ledger}.head")


def write_head(ledger: str | Path, seq: int, hash_: str) -> None:
    """Record the last entry written: one small write, unsynced (see the module's doc).

    The new head is written over the old one and only then is the file cut to its length: a
    process killed between the two leaves the new head followed by the old one's tail, which
    `read_head` reads as the new head (emptied first, the file would be left empty, and weir
    unable to start on its ledger)."""
    data = f"{seq} {hash_}\n".encode()
    fd = os.open(head_path(ledger), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def read_head(ledger: str | Path) -> tuple[int, str] | None:
    """(seq, hash) from the ledger's head file (its first line); None without one, or with
    an empty one: after a power cut an unsynced file may come back empty, and then it says
    nothing about how far the ledger went, as a lagging one says less."""
    path = head_path(ledger)
    try:
        content = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    if not content.strip("\0 \n"):
        return None
    text = content.split("\n", 1)[0].split()
    try:
        return int(text[0]), text[1]
    except (IndexError, ValueError):
        raise LedgerDamaged(f"{path} is not a ledger head (a seq and a hash)", seq=0) from None
