"""Issue 15, item 5: a damaged or edited ledger is refused, naming the seq where it breaks.

`weir serve` verifies the hash chain before it serves a ledger, and `weir ledger verify` does
on demand. A SQLite ledger's head file also catches entries SQLite dropped without a word
(a damaged write-ahead-log frame and every commit after it).
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from controlplane.control import Controller
from controlplane.ledger import LedgerDamaged, PostgresStore, SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from tests.integration._weir import WEIR, WeirServer
from tests.support import free_port
from tests.support._postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)


def weir(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WEIR, *args], capture_output=True, text=True, timeout=60)


def serve_once(store: Path | str) -> subprocess.CompletedProcess[str]:
    """`weir serve` on `store`, stopped after 20 s if it does start."""
    try:
        return subprocess.run(
            [WEIR, "serve", "--store", str(store), "--xds", f"127.0.0.1:{free_port()}",
             "--api", f"127.0.0.1:{free_port()}", "--stats", "off"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except subprocess.TimeoutExpired as served:
        out = served.stdout.decode() if isinstance(served.stdout, bytes) else served.stdout
        return subprocess.CompletedProcess(served.cmd, -1, out or "", "")


def a_few_changes(store: Path) -> None:
    controller = Controller(SqliteStore(store))
    controller.apply_service(ServiceSpec(name="web"), actor="alice")
    instance = Instance(id="a", service="web", version="v1", address="127.0.0.1:9000")
    controller.add_instance(instance, actor="alice")
    controller.change("a", Activation.live(100), actor="alice")
    controller._store.close()


def test_an_edited_sqlite_ledger_is_refused_naming_the_seq(tmp_path: Path) -> None:
    store = tmp_path / "weir.db"
    a_few_changes(store)
    # When someone edits entry 2 behind weir's back (dropping the append-only trigger first)
    with sqlite3.connect(store) as db:
        db.execute("DROP TRIGGER ledger_append_only_update")
        db.execute("UPDATE ledger SET actor = 'mallory' WHERE seq = 2")
    verified = weir("ledger", "verify", "--store", str(store))
    served = serve_once(store)
    print(
        f"\nedited ledger: weir ledger verify exits {verified.returncode}: "
        f"{verified.stderr.strip()}; weir serve exits {served.returncode}"
    )

    # Then both refuse it, naming seq 2, and weir serve does not start
    said = f"weir: the ledger at {store} is damaged at seq 2: the entry does not match its hash"
    assert verified.returncode == 1
    assert verified.stderr.startswith(said)
    assert served.returncode == 1
    assert said in served.stderr
    assert "weir serving" not in served.stdout


def test_an_acknowledged_change_lost_with_a_bad_wal_frame_is_caught(tmp_path: Path) -> None:
    # Given weir serve, killed -9 after four acknowledged changes still in the WAL
    with WeirServer(tmp_path, options=("--stats", "off")) as server:
        server.service("web")
        server.instance("web", "a", "127.0.0.1:9000")
        server.live("a", 100)
        acknowledged = server.history()[-1]["seq"]
        server.kill9()
    wal = Path(f"{server.store}-wal")
    assert wal.stat().st_size > 0
    # When a byte of the WAL's last frame goes bad
    data = bytearray(wal.read_bytes())
    data[-100] ^= 0xFF
    wal.write_bytes(bytes(data))
    verified = weir("ledger", "verify", "--store", str(server.store))
    served = serve_once(server.store)
    print(
        f"\nbad WAL frame after {acknowledged} acknowledged entries: weir ledger verify "
        f"exits {verified.returncode}: {verified.stderr.strip()}; weir serve exits "
        f"{served.returncode}"
    )

    # Then the ledger is refused: it ends before the last acknowledged entry
    assert verified.returncode == 1
    assert f"but seq {acknowledged} was written" in verified.stderr
    assert served.returncode == 1
    assert "entries were lost" in served.stderr


def test_an_intact_ledger_verifies(tmp_path: Path) -> None:
    store = tmp_path / "weir.db"
    a_few_changes(store)

    verified = weir("ledger", "verify", "--store", str(store))

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(f"ledger {store}: 3 entries, hash chain intact up to seq 3")


def test_an_edited_postgresql_ledger_is_refused_naming_the_seq(postgres: PostgresServer) -> None:
    url = postgres.fresh_database()
    controller = Controller(PostgresStore(url))
    controller.apply_service(ServiceSpec(name="web"), actor="alice")
    controller.apply_service(ServiceSpec(name="api"), actor="alice")
    controller._store.close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only")
        db.execute("UPDATE ledger SET body = replace(body, 'api', 'apj') WHERE seq = 2")

    with pytest.raises(LedgerDamaged, match="damaged at seq 2") as damaged:
        PostgresStore(url).verify()
    verified = weir("ledger", "verify", "--store", url)

    assert damaged.value.seq == 2
    assert verified.returncode == 1
    assert "is damaged at seq 2: the entry does not match its hash" in verified.stderr
