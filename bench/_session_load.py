"""Open-loop traffic for a session, from a process of its own: `rps` requests a second through
an Envoy listener until stopped, every request to a path of its own (`/r/<n>`, and every other
one `/api/r/<n>`) so that Envoy's access log names it; each failure is kept with its path.

Request n is due at start + n/rps whatever happened to those before it; `CONNECTIONS`
kept-alive HTTP/1.1 connections take them in turn (when all are busy, the next waits, and
the lag is recorded). A plain asyncio HTTP/1.1 client rather than httpx: a request costs the
client a fraction of what httpx takes, so the traffic keeps its schedule on a busy machine.

    python -m bench._session_load URL HOST RPS OUT.json     (stops on SIGTERM, then writes OUT)
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from bench._attribution import ClientFailure

TIMEOUT_S = 10.0
CONNECTIONS = 64
STOP_TIMEOUT_S = TIMEOUT_S + 10


class Closed(Exception):
    """The connection ended before a whole answer."""


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection stays open) of one HTTP/1.1 response."""
    line = await reader.readline()
    if not line:
        raise Closed("the connection closed before an answer")
    status = int(line.split(b" ", 2)[1])
    length, chunked, keep = 0, False, True
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection" and value == b"close":
            keep = False
    if not chunked:
        return status, await reader.readexactly(length), keep
    body = b""
    while size := int((await reader.readline()).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readline()
    await reader.readline()
    return status, body, keep


class _Load:
    def __init__(self, url: str, host: str, rps: float) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = host
        self.rps = rps
        self.sent = 0
        self.outcomes: Counter[str] = Counter()
        self.failures: list[ClientFailure] = []
        self.max_lag_s = 0.0

    async def run(self, stopping: asyncio.Event) -> None:
        queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
        workers = [asyncio.create_task(self._connection(queue)) for _ in range(CONNECTIONS)]
        started = time.monotonic()
        n = 0
        while not stopping.is_set():
            due = started + n / self.rps
            if (wait := due - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(stopping.wait(), wait)
                    break
                except TimeoutError:
                    pass
            queue.put_nowait((f"/api/r/{n}" if n % 2 else f"/r/{n}", due))
            n += 1
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.wait(workers, timeout=TIMEOUT_S + 5)

    async def _connection(self, queue: asyncio.Queue[tuple[str, float] | None]) -> None:
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while (job := await queue.get()) is not None:
            path, due = job
            self.max_lag_s = max(self.max_lag_s, time.monotonic() - due)
            sent_at = time.time()
            self.sent += 1
            try:
                if stream is None:
                    stream = await asyncio.wait_for(
                        asyncio.open_connection(*self.address), TIMEOUT_S
                    )
                reader, writer = stream
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
                status, body, keep = await asyncio.wait_for(_answer(reader), TIMEOUT_S)
                outcome, text = str(status), body.decode(errors="replace")
                if not keep:
                    writer.close()
                    stream = None
            except (OSError, TimeoutError, Closed, ValueError, IndexError) as exc:
                outcome, text = type(exc).__name__, str(exc)
                if stream is not None:
                    stream[1].close()
                    stream = None
            self.outcomes[outcome] += 1
            if not outcome.startswith("2"):
                self.failures.append(ClientFailure(path, sent_at, outcome, text))
        if stream is not None:
            stream[1].close()

    def summary(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "outcomes": dict(self.outcomes),
            "failures": [asdict(f) for f in self.failures],
            "max_lag_s": self.max_lag_s,
        }


class SessionLoad:
    """The load process, as a context manager; its results once it stopped."""

    def __init__(self, url: str, host: str, rps: float, out: Path) -> None:
        self._command = [sys.executable, "-m", "bench._session_load", url, host, f"{rps:g}",
                         str(out)]  # fmt: skip
        self._out = out
        self._process: subprocess.Popen[bytes] | None = None
        self.sent = 0
        self.outcomes: Counter[str] = Counter()
        self.failures: list[ClientFailure] = []
        self.max_lag_s = 0.0

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(self._command, stdin=subprocess.DEVNULL)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RuntimeError("the load process did not stop in time") from None
        summary = json.loads(self._out.read_text())
        self.sent = int(summary["sent"])
        self.outcomes = Counter({k: int(v) for k, v in summary["outcomes"].items()})
        self.failures = [ClientFailure(**f) for f in summary["failures"]]
        self.max_lag_s = float(summary["max_lag_s"])


async def _main(url: str, host: str, rps: float, out: Path) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    load = _Load(url, host, rps)
    await load.run(stopping)
    out.write_text(json.dumps(load.summary()))


if __name__ == "__main__":
    url_arg, host_arg, rps_arg, out_arg = sys.argv[1:5]
    asyncio.run(_main(url_arg, host_arg, float(rps_arg), Path(out_arg)))
