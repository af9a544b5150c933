"""Reading a service's error budget from `weir serve`, once Envoy's last flushes are in."""

from __future__ import annotations

import time
from typing import Any

from tests.integration._mesh import SERVICE
from tests.integration._weir import WeirServer
from tests.support import eventually


def budget(server: WeirServer, service: str = SERVICE) -> dict[str, Any]:
    answer: dict[str, Any] = server.call("GET", f"/v1/services/{service}/budget")
    return answer


def settled(server: WeirServer, service: str = SERVICE) -> dict[str, Any]:
    """The budget once Envoy's last flushes are in (and written): two reads a flush and a half
    apart that agree, from an evaluator that reads the stats (its first read after a start is
    the zero it counts from)."""
    last = [budget(server, service)]

    def still() -> None:
        time.sleep(1.5)
        now = budget(server, service)
        same = (now["requests"], now["errors"]) == (last[0]["requests"], last[0]["errors"])
        last[0] = now
        assert same and now["stats_error"] is None, now

    eventually(still, timeout=20, interval=0)
    return last[0]
