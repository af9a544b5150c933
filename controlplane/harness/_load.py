"""Steady background traffic through an Envoy listener, bounded in count and time: what the
demo drives and the tests measure against."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import TracebackType
from typing import Self

import httpx

MAX_SECONDS = 60.0
MAX_REQUESTS = 200_000


class SteadyLoad:
    """Sends GETs back to back from a thread until stopped (or its bounds run out).

    Every outcome is tallied: a status code, or the name of the transport error.
    """

    def __init__(
        self, url: str, host: str, *, rps: float | None = None, max_seconds: float = MAX_SECONDS
    ) -> None:
        self.url = url
        self.host = host
        self.max_seconds = max_seconds
        self.interval = 1.0 / rps if rps else 0.0
        self.outcomes: Counter[str] = Counter()
        self.bodies: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            next_at = time.monotonic()
            for _ in range(MAX_REQUESTS):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                if self.interval:
                    next_at += self.interval
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
                try:
                    response = client.get(self.url, headers={"Host": self.host})
                except httpx.TransportError as exc:
                    self.outcomes[type(exc).__name__] += 1
                else:
                    self.outcomes[str(response.status_code)] += 1
                    self.bodies[response.text] += 1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())
