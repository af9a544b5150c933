"""Issue 15, attack 4: two writers on one ledger.

A second `weir serve` on a SQLite ledger (or on the ports of the first) exits with one line. On
PostgreSQL every ledger connection runs with lock, idle-in-transaction and statement timeouts:
a replica paused inside its append stalls the others for seconds, not indefinitely, and a
write that times out is reported failed and never lands later. A revoked token writes through
no replica, checked in the write itself.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from controlplane.api import create_app
from controlplane.auth import issue_token
from controlplane.control import Controller
from controlplane.errors import StoreError
from controlplane.ledger import PostgresStore, ledger_conninfo
from controlplane.model import Role, ServiceSpec
from controlplane.xds import ProxyRegistry
from tests.integration._weir import WEIR, WeirServer
from tests.support import free_port
from tests.support._postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)


def second_serve(store: Path, xds: str, api: str) -> tuple[int | None, str, float]:
    """Run another `weir serve`: its exit code (None if it was still serving after 30 s), what
    it printed on stderr, and how long it ran."""
    started = time.monotonic()
    process = subprocess.Popen(
        [WEIR, "serve", "--store", str(store), "--xds", xds, "--api", api, "--stats", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        code: int | None = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
        process.terminate()
        process.wait(timeout=15)
    assert process.stderr is not None
    errors = [line for line in process.stderr.read().splitlines() if not line.startswith("20")]
    process.stderr.close()
    return code, "\n".join(errors), time.monotonic() - started


def test_a_second_weir_serve_on_a_sqlite_ledger_exits_naming_the_first(tmp_path: Path) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        code, said, _ = second_serve(
            weir.store, f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        )
        print(f"\nsecond weir serve on the same SQLite ledger: exit {code}: {said}")

        assert code == 1
        assert said == (
            f"weir: the ledger at {weir.store} is already served by another weir serve (pid "
            f"{weir.pid}): one process writes a SQLite ledger; stop that one first, or run "
            "replicas on PostgreSQL"
        )


@pytest.mark.parametrize("port", ["xds", "api"])
def test_a_second_weir_serve_cannot_share_a_port(tmp_path: Path, port: str) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        api = weir.api_url.removeprefix("http://")
        xds, api = (weir.xds, f"127.0.0.1:{free_port()}") if port == "xds" else (
            f"127.0.0.1:{free_port()}", api
        )  # fmt: skip
        code, said, _ = second_serve(tmp_path / "other.db", xds, api)
        print(f"\nsecond weir serve on the same {port} port: exit {code}: {said}")

        assert code == 1
        taken = xds if port == "xds" else api
        assert said.startswith(
            f"weir: cannot listen for {'xDS' if port == 'xds' else 'the HTTP API'} on {taken}"
        )
        assert len(said.splitlines()) == 1


def test_a_replica_paused_inside_its_append_stalls_the_others_for_seconds(
    postgres: PostgresServer,
) -> None:
    url = postgres.fresh_database()
    paused, other = PostgresStore(url), Controller(PostgresStore(url))
    try:
        # Given a replica that stopped inside its append, holding the ledger's table lock
        db = paused._connection()
        db.execute("BEGIN")
        db.execute("LOCK TABLE ledger IN EXCLUSIVE MODE")
        threading.Timer(12, db.close).start()  # it wakes up after 12 s, if nothing ended it
        # When another replica appends
        started = time.monotonic()
        try:
            other.apply_service(ServiceSpec(name="web"), actor="test")
            outcome = "landed"
        except StoreError as exc:
            outcome = f"failed ({exc})"
        took = time.monotonic() - started
        print(
            f"\nan append while another replica is paused in its own: {outcome} after {took:.1f}s"
        )

        # Then PostgreSQL ended the paused transaction and the append went through
        assert outcome == "landed"
        assert took < 4.5
        assert [e.event.kind for e in other.history()] == ["service_applied"]
    finally:
        paused.close()
        other._store.close()


def test_a_write_that_timed_out_is_reported_failed_and_never_lands_later(
    postgres: PostgresServer,
) -> None:
    url = postgres.fresh_database()
    controller = Controller(PostgresStore(url))
    # Given a session outside weir holding the ledger's table lock for 8 s
    holder = psycopg.connect(url, autocommit=True)
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE ledger IN EXCLUSIVE MODE")
    threading.Timer(8, holder.close).start()  # closing ends the transaction: rolled back
    # When weir appends meanwhile
    started = time.monotonic()
    try:
        controller.apply_service(ServiceSpec(name="web"), actor="test")
        outcome = "landed"
    except StoreError as exc:
        outcome = f"failed: {exc.message.splitlines()[0]}"
    took = time.monotonic() - started
    time.sleep(max(0.0, 9 - took))  # past the holder's release
    landed = [e.event.kind for e in controller.history()]
    print(
        f"\nan append behind an 8 s lock: {outcome} after {took:.1f}s; the ledger then "
        f"holds {landed}"
    )

    # Then it is reported failed within the lock timeout, and nothing lands afterwards
    assert outcome.startswith("failed")
    assert "lock timeout" in outcome
    assert took < 7
    assert landed == []
    controller._store.close()


def test_every_ledger_connection_runs_with_the_timeouts(postgres: PostgresServer) -> None:
    url = postgres.fresh_database()
    with psycopg.connect(ledger_conninfo(url)) as db:
        settings = {
            name: db.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("lock_timeout", "idle_in_transaction_session_timeout", "statement_timeout")
        }
    assert settings == {
        "lock_timeout": "5s",
        "idle_in_transaction_session_timeout": "3s",
        "statement_timeout": "15s",
    }


def test_a_revoked_token_writes_through_no_replica(postgres: PostgresServer) -> None:
    url = postgres.fresh_database()
    a, b = Controller(PostgresStore(url)), Controller(PostgresStore(url))
    _, admin = issue_token(a, "admin", Role.ADMIN, actor="test")
    _, ci = issue_token(a, "ci-bot", Role.ADMIN, actor="test")
    b.catch_up()
    replica_b = TestClient(create_app(b, ProxyRegistry()))
    # When ci-bot's token is revoked through replica a, with b not caught up yet
    with TestClient(create_app(a, ProxyRegistry())) as replica_a:
        revoked = replica_a.post(
            "/v1/tokens/ci-bot/revoke", headers={"Authorization": f"Bearer {admin}"}
        )
        assert revoked.status_code == 200, revoked.text
    # And it writes through replica b 20 times at once
    statuses = []
    with replica_b:
        for n in range(20):
            response = replica_b.put(
                f"/v1/services/s{n}", json={"name": f"s{n}"},
                headers={"Authorization": f"Bearer {ci}"},
            )  # fmt: skip
            statuses.append(response.status_code)
    landed = [e for e in a.history() if e.actor == "ci-bot"]
    print(
        f"\n20 writes through replica b after a revocation through a: {statuses.count(200)} "
        f"landed, statuses {sorted(set(statuses))}"
    )

    # Then none lands: each is refused in the write itself
    assert landed == []
    assert set(statuses) == {401}
    for controller in (a, b):
        controller._store.close()
