"""kill -9 during a burst of changes: every change the API acknowledged is in the ledger, the
sequence has no gap, and the surviving replica serves all of it."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import psycopg

from tests.ha._replicas import replica
from tests.support import eventually

WRITERS = 4
PER_WRITER = 200  # bounded: the kill comes long before
KILL_AFTER = 60  # acknowledged changes


def test_kill_9_mid_burst_loses_no_acknowledged_change(tmp_path: Path, ledger_url: str) -> None:
    acked: list[str] = []
    lock = threading.Lock()

    with (
        replica(tmp_path / "a", ledger_url, "--stats", "off") as a,
        replica(tmp_path / "b", ledger_url, "--stats", "off", joining=a) as b,
    ):

        def write(writer: int) -> None:
            with httpx.Client(
                base_url=a.api_url, headers=a.headers, timeout=5.0, trust_env=False
            ) as http:
                for n in range(PER_WRITER):
                    name = f"s{writer}-{n}"
                    try:
                        response = http.put(f"/v1/services/{name}", json={"name": name})
                    except httpx.TransportError:
                        return  # the replica died; what it did not acknowledge may or may not be in
                    assert response.status_code == 200, response.text
                    with lock:
                        acked.append(name)

        # Given four operators writing through replica a as fast as it answers
        threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for thread in threads:
            thread.start()
        # When a is killed -9 in the middle of the burst
        eventually(lambda: len(acked) >= KILL_AFTER, timeout=60, interval=0.005)
        a.kill9()
        killed_at = len(acked)
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)

        # Then every acknowledged change is in the ledger, numbered 1..n without a gap
        with psycopg.connect(ledger_url) as db:
            rows = db.execute("SELECT seq, body::json->'spec'->>'name' FROM ledger ORDER BY seq")
            entries = rows.fetchall()
        assert [seq for seq, _ in entries] == list(range(1, len(entries) + 1))
        # (the first entry is the admin token replica a issued: it names no service)
        recorded = [str(name) for _, name in entries if name is not None]
        assert set(acked) <= set(recorded), set(acked) - set(recorded)
        assert len(recorded) == len(set(recorded))  # nothing appended twice
        # and replica b serves all of it
        eventually(lambda: len(b.call("GET", "/v1/services")) == len(recorded), timeout=5)

    print(
        f"killed after {killed_at} acks; {len(acked)} acknowledged in all, "
        f"{len(recorded)} in the ledger ({len(recorded) - len(acked)} written but unacknowledged)"
    )
