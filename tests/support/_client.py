"""A client for the Envoy listener: one request, or N of them tallied by status and body."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import httpx

# trust_env=False everywhere: a proxy named in the environment must never carry 127.0.0.1 traffic.


class Reply(NamedTuple):
    status: int
    body: str


class Replies(Counter[Reply]):
    """How many times each (status, body) came back."""

    def bodies(self) -> Counter[str]:
        tally: Counter[str] = Counter()
        for reply, n in self.items():
            tally[reply.body] += n
        return tally

    def statuses(self) -> Counter[int]:
        tally: Counter[int] = Counter()
        for reply, n in self.items():
            tally[reply.status] += n
        return tally


def http_get(url: str, host: str | None = None, *, timeout: float = 5.0) -> Reply:
    """One GET, with `host` as the Host header (the service name Envoy routes on)."""
    headers = {"Host": host} if host else {}
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        response = client.get(url, headers=headers)
    return Reply(response.status_code, response.text)


def send_requests(
    url: str,
    n: int,
    host: str | None = None,
    *,
    timeout: float = 5.0,
    client: httpx.Client | None = None,
) -> Replies:
    """Send `n` GETs one after another over one keep-alive connection; tally the replies."""
    headers = {"Host": host} if host else {}
    replies = Replies()
    own = client is None
    http = client or httpx.Client(timeout=timeout, trust_env=False)
    try:
        for _ in range(n):
            response = http.get(url, headers=headers)
            replies[Reply(response.status_code, response.text)] += 1
    finally:
        if own:
            http.close()
    return replies
