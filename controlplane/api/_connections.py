"""The API port's connections, bounded: how many, and how long one may sit without a request.

uvicorn closes a keep-alive connection that stays idle after a response, but a connection that
never sends a request head -- or sends it a byte at a time -- is kept forever: enough of them
took the API down and used up the process's file descriptors, so the xDS port stopped
accepting too. Here every connection must complete a request head within
`header_timeout_s` of opening (or of its previous response), however it trickles in, and at
most `max_connections` are open: at the cap a new connection evicts the oldest one that is
waiting for a request head, and is closed at once if every open one is busy with a request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from controlplane.api._connection_limits import ApiLimits


class _Waiting:
    """The connections waiting for a request head, oldest first (a dict keeps its order)."""

    def __init__(self) -> None:
        self.connections: dict[Any, None] = {}

    def oldest(self) -> Any | None:
        return next(iter(self.connections), None)


def guarded_protocol(limits: ApiLimits) -> type[asyncio.Protocol]:
    """An h11 protocol class for uvicorn (`Config(http=...)`) that enforces `limits`."""
    waiting = _Waiting()

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _seen: object = None
        """The request cycle last seen to start."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                victim = waiting.oldest()
                if victim is None:  # all busy with requests: this one waits for none
                    transport.close()
                    return
                victim.transport.close()
                victim._stop_waiting()
            self._wait_for_request()

        def _wait_for_request(self) -> None:
            self._stop_waiting()
            self._deadline = self.loop.call_later(limits.header_timeout_s, self._too_slow)
            waiting.connections[self] = None

        def _stop_waiting(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            waiting.connections.pop(self, None)

        def _too_slow(self) -> None:
            self._deadline = None
            waiting.connections.pop(self, None)
            if not self.transport.is_closing():
                self.transport.close()

        def _request_started(self) -> bool:
            if self.cycle is not None and self.cycle is not self._seen:
                self._seen = self.cycle
                return True
            return False

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._request_started():
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self._request_started():
                self._wait_for_request()  # unless a pipelined request started meanwhile

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

    return GuardedH11Protocol
