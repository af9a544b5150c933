"""A tiny upstream: one HTTP/1.1 server per instance, answering with its instance id.

Envoy marks a mirrored request by appending "-shadow" to its Host/authority ("web" becomes
"web-shadow", "web:80" becomes "web-shadow:80"), and discards the response. The upstream counts
primary and mirrored requests apart, so a test sees where real and mirrored traffic went.
"""

from __future__ import annotations

import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from controlplane.harness._lifecycle import serve_in_thread, stop_serving

HOST = "127.0.0.1"

SHADOW_SUFFIX = "-shadow"
_PORT = re.compile(r":\d+$")


def is_shadow_host(host: str) -> bool:
    """Whether a Host header is one Envoy rewrote for a mirrored request."""
    return _PORT.sub("", host).endswith(SHADOW_SUFFIX)


Answer = Callable[[str, str], tuple[str, bytes]]
"""(method, path) -> (content type, body): what an upstream answers, if not its instance id."""
WRITE_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Counts:
    primary: int
    mirrored: int
    failed: int = 0
    """Primary requests answered with the error status, or with no answer (a reset)."""
    mirrored_failed: int = 0

    @property
    def total(self) -> int:
        return self.primary + self.mirrored


class Upstream:
    """An HTTP server on `host`:`port` (default 127.0.0.1 and a free port) whose body is always
    `instance_id`.

    It answers `status`, except for an `error_rate` fraction of requests (drawn from an RNG
    seeded with `seed`, so a run is repeatable) that get `error_status`, and a `reset_rate`
    fraction that get no answer: the connection is closed under them. `delay` seconds are
    slept before each answer. `answer`, if given, makes the body (and its content type) of
    each request from its method and path. Use as a context manager, or start() and stop().
    """

    def __init__(
        self,
        instance_id: str,
        *,
        host: str = HOST,
        port: int = 0,
        status: int = 200,
        error_rate: float = 0.0,
        error_status: int = 503,
        reset_rate: float = 0.0,
        delay: float = 0.0,
        seed: int = 0,
        order_rate: float | None = None,
        answer: Answer | None = None,
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate {error_rate} is not between 0 and 1")
        if not 0.0 <= reset_rate <= 1.0 - error_rate:
            raise ValueError(f"reset_rate {reset_rate} is not between 0 and 1 - error_rate")
        self.instance_id = instance_id
        self.host = host
        self._port = port
        self.status = status
        self.error_rate = error_rate
        self.error_status = error_status
        self.reset_rate = reset_rate
        self.delay = delay
        self.order_rate = order_rate
        """When set, each answer reports its business outcome in x-weir-outcome: `order=1`
        for this fraction of requests, `order=0` for the rest."""
        self._rng = random.Random(seed)
        self.answer = answer
        self._methods: Counter[str] = Counter()
        self._body_bytes_sent = 0
        self._lock = threading.Lock()
        self._primary = 0
        self._mirrored = 0
        self._failed = 0
        self._mirrored_failed = 0
        self._hosts: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"upstream {self.instance_id} is not started")
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """host:port, as an instance's address is written ([::1]:port for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        server = server_class((self.host, self._port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = serve_in_thread(server, f"upstream-{self.instance_id}")
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            stop_serving(server, thread)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def counts(self) -> Counts:
        with self._lock:
            return Counts(self._primary, self._mirrored, self._failed, self._mirrored_failed)

    def hosts(self) -> Counter[str]:
        """How many requests arrived with each Host header."""
        with self._lock:
            return Counter(self._hosts)

    def methods(self) -> Counter[str]:
        """How many requests arrived with each method."""
        with self._lock:
            return Counter(self._methods)

    def body_bytes_sent(self) -> int:
        """Bytes of bodies written so far (a reader that hangs up stops a write part way)."""
        with self._lock:
            return self._body_bytes_sent

    def reset(self) -> None:
        with self._lock:
            self._primary = self._mirrored = self._failed = self._mirrored_failed = 0
            self._hosts.clear()
            self._methods.clear()

    def _outcome(self) -> str | None:
        if self.order_rate is None:
            return None
        with self._lock:
            ordered = self._rng.random() < self.order_rate
        return f"order={int(ordered)}"

    def _record(self, host: str, method: str = "GET") -> int | None:
        """Count one request; the status to answer it with, or None for no answer."""
        with self._lock:
            self._methods[method] += 1
            mirrored = is_shadow_host(host)
            draw = self._rng.random() if self.error_rate or self.reset_rate else 1.0
            answer = (
                self.error_status
                if draw < self.error_rate
                else None
                if draw < self.error_rate + self.reset_rate
                else self.status
            )
            failed = answer != self.status
            if mirrored:
                self._mirrored += 1
                self._mirrored_failed += failed
            else:
                self._primary += 1
                self._failed += failed
            self._hosts[host] += 1
        return answer


class _HttpServer(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: while this process waits for a CPU,
    # Envoy's new connections beyond five are dropped at SYN and retried a second later, past
    # its connect timeout (a 503 UF a caller sees). A real server's backlog.
    request_queue_size = 1024


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


def _handler_for(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's connection pools expect
        disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status = upstream._record(self.headers.get("Host", ""), self.command)
            if status is None:
                self.close_connection = True  # closed with no answer: a reset to the proxy
                return
            if upstream.delay:
                time.sleep(upstream.delay)
            content_type, body = "text/plain", upstream.instance_id.encode()
            if upstream.answer is not None:
                content_type, body = upstream.answer(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            outcome = upstream._outcome()
            if outcome is not None:
                self.send_header("x-weir-outcome", outcome)
            self.end_headers()
            if self.command != "HEAD":
                for start in range(0, len(body), WRITE_CHUNK):
                    try:
                        self.wfile.write(body[start : start + WRITE_CHUNK])
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True  # the reader hung up part way
                        return
                    with upstream._lock:
                        upstream._body_bytes_sent += min(WRITE_CHUNK, len(body) - start)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: thousands of requests per test

    return Handler
