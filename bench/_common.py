"""What every switch benchmark shares: probing through an Envoy listener until the new target
answers, and summarising the times.

A switch is timed from the moment the new configuration is handed over (a file renamed into
place, a change appended to weir's ledger) to the first response served by the new target, as
seen by a client that asks as fast as it can over one keep-alive connection.
"""

from __future__ import annotations

import http.client
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 10.0
PAUSE_S = 0.02
"""Between switches, so that one reload never overlaps the next."""


class Prober:
    """GET / through an Envoy listener with a fixed Host header, over one kept-alive connection.

    http.client rather than httpx: a probe costs a fraction of a millisecond (0.17 ms straight
    to an upstream), which sets the resolution of every measurement taken with it.
    """

    def __init__(self, host: str, port: int, host_header: str, path: str = "/") -> None:
        self._address = (host, port)
        self._headers = {"Host": host_header}
        self._path = path
        self._connection: http.client.HTTPConnection | None = None

    def __call__(self) -> str:
        """The body of one response ("" when the connection failed; the next call reconnects)."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(*self._address, timeout=5)
        try:
            self._connection.request("GET", self._path, headers=self._headers)
            response = self._connection.getresponse()
            return response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            self.close()
            return ""

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def time_until_served(
    probe: Callable[[], str],
    target: str,
    *,
    started: float,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> float:
    """Seconds from `started` (a time.perf_counter() reading) to the first `probe()` that
    answers `target`. Probes in a tight loop; raises TimeoutError after `timeout` seconds."""
    deadline = started + timeout
    while True:
        if probe() == target:
            return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{target!r} did not answer within {timeout:g}s")


def time_switches(
    switch: Callable[[str], float],
    probe: Callable[[], str],
    targets: tuple[str, str],
    rounds: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    pause: float = PAUSE_S,
) -> list[float]:
    """Flip traffic between two targets `rounds` times, timing each flip.

    Traffic must start on targets[0] (checked first). `switch(target)` hands over the
    configuration that sends all traffic to `target` and returns the time.perf_counter()
    reading taken just before the hand-over.
    """
    time_until_served(probe, targets[0], started=time.perf_counter(), timeout=timeout)
    samples = []
    for n in range(1, rounds + 1):
        target = targets[n % 2]
        time.sleep(pause)
        started = switch(target)
        samples.append(time_until_served(probe, target, started=started, timeout=timeout))
    return samples


@dataclass(frozen=True, slots=True)
class Summary:
    rounds: int
    median_ms: float
    p99_ms: float
    noun: str = "switches"
    """What was timed, as the summary names it."""

    def __str__(self) -> str:
        return (
            f"{self.rounds} {self.noun}: median {self.median_ms:.2f} ms, p99 {self.p99_ms:.2f} ms"
        )


def summarize(samples: list[float], noun: str = "switches") -> Summary:
    """Median and 99th percentile, in milliseconds, of samples in seconds."""
    if not samples:
        raise ValueError("no samples")
    ms = sorted(s * 1000 for s in samples)
    return Summary(rounds=len(ms), median_ms=statistics.median(ms), p99_ms=p99(ms), noun=noun)


def p99(values: Iterable[float]) -> float:
    """The 99th percentile (inclusive method) of `values`."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[98]


# The fleet benchmarks: one `weir serve` process, many streams.


def rss_bytes(pid: int) -> int:
    """The resident set size of process `pid` (VmRSS in /proc/<pid>/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time process `pid` has used so far, user and system (from /proc/<pid>/stat). On a
    shared machine it says what a step cost where wall-clock time says what it waited."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it): a
    fleet is a socket per stream on both sides. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


@contextmanager
def serving_child(module: str, *args: str) -> Iterator[tuple[str, int]]:
    """`python -m module args...` in a child process that prints the address it serves on its
    first line (on its own CPU, not the benchmark's GIL): yields that address and its pid. It
    is told to end by closing its stdin."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()
        if not address:
            raise RuntimeError(f"{module} {' '.join(args)} did not start")
        yield address, process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
