"""A config Envoy rejects is NACKed, shown with Envoy's own message, never resent, and harms
neither the other proxies nor later good changes."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WEIR, WeirServer
from tests.support import eventually, free_port, send_requests


def test_a_rejected_listener_is_recorded_not_resent_and_isolated(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    register(weir, start_upstream, "a", "b")
    weir.live("a", 1)
    # Given a healthy proxy, and a second whose listener port something else already holds —
    # a listener Envoy must reject, though nothing in weir's input was wrong
    _, good_url = connect_envoy(weir, start_envoy, "proxy-good", delta=False)
    serves(good_url, "a")
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = f"127.0.0.1:{squatter.getsockname()[1]}"
        bad = start_envoy(
            weir.bootstrap("proxy-bad", listen=taken, delta=True)
            | {
                "admin": {
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": free_port()}
                    }
                }
            }
        )

        # Then weir records the NACK with Envoy's message, and `weir proxies` shows it
        def nacked() -> dict[str, Any]:
            [proxy] = [p for p in weir.proxies() if p["node_id"] == "proxy-bad"]
            assert proxy["last_nack"], proxy
            return proxy

        proxy = eventually(nacked)
        assert proxy["last_nack"]["type"] == "listeners"
        assert "cannot bind" in proxy["last_nack"]["message"]
        shown = subprocess.run(
            [WEIR, "proxies", "--server", weir.api_url], capture_output=True, text=True, timeout=30
        )
        assert shown.returncode == 0, shown.stderr
        assert "proxy-bad" in shown.stdout and "cannot bind" in shown.stdout

        # and never sends the rejected listener again while nothing changes
        time.sleep(2)
        assert bad.stats()["listener_manager.lds.update_rejected"] == 1
        assert [p["nacks"] for p in weir.proxies() if p["node_id"] == "proxy-bad"] == [1]

        # When a later good change comes
        weir.live("b", 1)
        weir.inactive("a")

        # Then the healthy proxy serves it, and the rejecting one still takes new clusters
        serves(good_url, "b")
        assert send_requests(good_url, 100, SERVICE).bodies() == {"b": 100}

        def has_cluster_b() -> None:
            assert "web--b" in bad.admin_get("/clusters")

        eventually(has_cluster_b)
        assert bad.stats()["listener_manager.lds.update_rejected"] == 1
