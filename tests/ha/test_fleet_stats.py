"""The leader judges the whole fleet: with `--stats push`, two Envoys each stream their stats
to a different replica, and the leader's error budget counts the requests through both.
Real PostgreSQL, real Envoys, real upstreams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartEnvoy, StartUpstream
from tests.ha._replicas import leader, replica
from tests.integration._mesh import SERVICE
from tests.integration._weir import WeirServer
from tests.support import eventually, free_port, send_requests

SLO = {"success_rate": 99, "window": "1h"}


def budget(weir: WeirServer) -> dict[str, Any]:
    answer: dict[str, Any] = weir.call("GET", f"/v1/services/{SERVICE}/budget")
    return answer


def in_sync(weir: WeirServer) -> bool:
    """Its one proxy has acknowledged what it serves."""
    return [proxy["in_sync"] for proxy in weir.proxies()] == [True]


@pytest.mark.parametrize("stats", ["push", "pull"])
def test_the_leaders_budget_counts_requests_through_proxies_of_every_replica(
    tmp_path: Path,
    ledger_url: str,
    start_envoy: StartEnvoy,
    start_upstream: StartUpstream,
    stats: str,
) -> None:
    with (
        replica(tmp_path / "a", ledger_url, "--stats", stats) as a,
        replica(tmp_path / "b", ledger_url, "--stats", stats, joining=a) as b,
    ):
        # Given a leading (the first replica up), blue live, and no proxy yet
        eventually(lambda: leader(ledger_url)[1] == a.pid, timeout=10)
        a.service(SERVICE, slo=SLO)
        a.instance(SERVICE, "blue", start_upstream("blue").address)
        a.live("blue", 100)
        eventually(lambda: budget(a)["stats_error"] is not None, timeout=10)  # nothing reports
        # and one Envoy on each replica, in sync, whose stats the leader now reads
        urls = []
        for name, weir in (("proxy-a", a), ("proxy-b", b)):
            listen = f"127.0.0.1:{free_port()}"
            start_envoy(weir.bootstrap(name, listen=listen, delta=False))
            urls.append(f"http://{listen}/")
        for weir in (a, b):
            eventually(lambda: in_sync(weir), timeout=15)  # noqa: B023 (called at once)
        eventually(lambda: budget(a)["stats_error"] is None, timeout=15)

        # When 60 requests go through a's Envoy and 140 through b's
        for url, n in zip(urls, (60, 140), strict=True):
            replies = send_requests(url, n, SERVICE)
            assert replies.statuses() == {200: n}, replies

        # Then the leader's budget counts all 200
        eventually(lambda: budget(a)["requests"] == 200, timeout=15, interval=0.25)
        seen = budget(a)
        # and so does the follower's API, from the same shared stats
        eventually(lambda: budget(b)["requests"] == 200, timeout=15, interval=0.25)
        assert budget(b)["stats_error"] is None
    print(f"{stats}: the leader counted {seen['requests']:g} requests through both replicas")
