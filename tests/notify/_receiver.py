"""A real webhook receiver on 127.0.0.1: records every attempt, and can fail or stall first."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from controlplane.harness import serve_in_thread, stop_serving

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    """time.monotonic() when it arrived."""
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    """What the receiver answered."""

    @property
    def delivery(self) -> str:
        return self.headers["x-weir-delivery"]


class Receiver:
    """Answers `fail_status` to the first `fail_first` attempts of each delivery id (the
    X-Weir-Delivery header), then 204; with `stall_s`, sleeps that long before answering."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 503, stall_s: float = 0.0):
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._attempts: list[Attempt] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}/hooks/secret-token"

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    def accepted(self) -> list[dict[str, Any]]:
        """The bodies answered 2xx, in arrival order."""
        return [a.body for a in self.attempts() if a.status < 300]

    def events(self) -> list[str]:
        return [body["event"] for body in self.accepted()]

    def _answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> int:
        with self._lock:
            seen = sum(1 for a in self._attempts if a.delivery == headers["x-weir-delivery"])
            status = self.fail_status if seen < self.fail_first else 204
            self._attempts.append(Attempt(time.monotonic(), path, headers, body, status))
        return status

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.stall_s:
                    time.sleep(receiver.stall_s)
                status = receiver._answer(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_serving(self._server, self._thread)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
