"""Reading a service's error budget from `weir serve`, once Envoy's last flushes are in."""

from __future__ import annotations

import math
import time
from typing import Any

from controlplane.stats._claims import PROBATION_S
from tests.integration._mesh import SERVICE
from tests.integration._weir import WeirServer
from tests.support import eventually

READ_EVERY_S = 1.5


def budget(server: WeirServer, service: str = SERVICE) -> dict[str, Any]:
    answer: dict[str, Any] = server.call("GET", f"/v1/services/{service}/budget")
    return answer


def settled(server: WeirServer, service: str = SERVICE) -> dict[str, Any]:
    """The budget once Envoy's last flushes are in (and written): reads a flush and a half
    apart that agree for longer than a proxy's first claims about an instance are held back
    (stats/_claims.py, PROBATION_S), from an evaluator that reads the stats (its first read
    after a start is the zero it counts from)."""
    reads = [budget(server, service)]
    agreeing = math.ceil((PROBATION_S + 3) / READ_EVERY_S)

    def still() -> None:
        time.sleep(READ_EVERY_S)
        now = budget(server, service)
        reads.append(now)
        del reads[: -agreeing - 1]
        figures = {(r["requests"], r["errors"]) for r in reads}
        assert len(reads) > agreeing and len(figures) == 1, reads[-1]
        assert now["stats_error"] is None, now

    eventually(still, timeout=30, interval=0)
    return reads[-1]
