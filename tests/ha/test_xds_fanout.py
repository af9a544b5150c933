"""Every replica serves xDS: an Envoy connected to replica b carries out a change an operator
made through replica a, with b learning of it from the shared ledger alone."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import StartEnvoy, StartUpstream
from tests.ha._replicas import replica
from tests.integration._mesh import SERVICE, serves
from tests.support import eventually, free_port, send_requests


def test_an_envoy_on_one_replica_follows_changes_made_through_another(
    tmp_path: Path, ledger_url: str, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    with (
        replica(tmp_path / "a", ledger_url, "--stats", "off") as a,
        replica(tmp_path / "b", ledger_url, "--stats", "off", joining=a) as b,
    ):
        # Given blue live, set through a, and an Envoy connected to b only
        a.service(SERVICE)
        for instance_id in ("blue", "green"):
            a.instance(SERVICE, instance_id, start_upstream(instance_id).address)
        a.live("blue", 100)
        listen = f"127.0.0.1:{free_port()}"
        start_envoy(b.bootstrap("proxy-1", listen=listen, delta=True))
        url = f"http://{listen}/"
        serves(url, "blue")
        # When an operator moves all traffic to green through a
        started = time.monotonic()
        a.live("green", 100)
        a.inactive("blue")
        # Then Envoy, fed by b, sends every request to green
        eventually(lambda: set(send_requests(url, 20, SERVICE).bodies()) == {"green"}, timeout=10)
        took = time.monotonic() - started
        assert [p["node_id"] for p in a.proxies()] == []
        assert b.proxies()[0]["in_sync"]
    print(f"Envoy on b served the change made through a after {took:.2f} s")
