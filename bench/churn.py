"""Churn: 1,000 connect/disconnect cycles of simulated ADS clients, and whether the controller's
memory comes back (no leaked streams, watches or proxy records).

`weir serve` runs as a child process with one long-lived client (the witness) connected
throughout. Simulated clients (bench._ads_client, in a process of their own) then connect,
sync clusters, listeners and routes, and disconnect, `--concurrency` at a time; cycles
alternate SotW and delta, and clean ends (the client half-closes its stream) with abrupt
ones (the stream cancelled and the connection dropped). A warm-up of the same cycles comes
first, so that the allocator, grpc's pools and the interpreter reach their working size; the
controller's RSS (VmRSS of the `weir serve` process) right after it is the baseline. The
cycles follow, with the RSS sampled throughout (the peak), and once weir has closed every
stream (GET /v1/proxies lists only the witness again) the RSS is read again: the ratio to the
baseline is the figure (goal: within 5%).

    python -m bench.churn [--cycles N] [--concurrency N] [--warmup N]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench._ads_client import ClientProcess
from bench._common import raise_open_files_limit, rss_bytes
from bench.weir_switch import FLIPPED, WeirApi
from controlplane.harness import WeirProcess, free_port

GOAL_RATIO = 1.05
WITNESS = "witness-0"
"""The node id of the long-lived client (prefix `witness`, first of its fleet)."""
DRAIN_TIMEOUT_S = 15.0
SAMPLE_S = 0.05


@dataclass(frozen=True, slots=True)
class ChurnRun:
    cycles: int
    seconds: float
    """How long the measured cycles took."""
    start_rss: int
    """The controller's RSS after the warm-up, every warm-up stream closed (bytes)."""
    peak_rss: int
    end_rss: int
    proxies_after: list[str]
    """Node ids GET /v1/proxies lists after the cycles (the witness, if nothing leaked)."""
    streams_closed: int
    """Closed ADS streams weir counted (weir_xds_stream_duration_seconds_count), warm-up
    included."""

    @property
    def ratio(self) -> float:
        return self.end_rss / self.start_rss


def _proxy_ids(http: httpx.Client) -> list[str]:
    response = http.get("/v1/proxies")
    response.raise_for_status()
    return sorted(proxy["node_id"] for proxy in response.json())


def streams_closed(http: httpx.Client) -> int:
    """Closed ADS streams, from weir's own /metrics."""
    response = http.get("/metrics")
    response.raise_for_status()
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "weir_xds_stream_duration_seconds_count":
                total += sample.value
    return int(total)


class _PeakSampler:
    """The highest RSS of a process, sampled every SAMPLE_S seconds in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes(self.pid))


def measure_churn(cycles: int = 1000, *, concurrency: int = 16, warmup: int = 200) -> ChurnRun:
    """Run `warmup`, then `cycles` connect/disconnect cycles against one `weir serve`."""
    raise_open_files_limit()
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-churn-")))
        server = stack.enter_context(WeirProcess(root))
        assert server.pid is not None
        weir = WeirApi(server.api_url, server.headers)
        stack.callback(weir.close)
        weir.setup({name: f"127.0.0.1:{free_port()}" for name in ("a", FLIPPED)})
        fleet = stack.enter_context(ClientProcess(server.xds))
        fleet.grow(1, prefix="witness")
        if warmup:
            fleet.churn(warmup, concurrency=concurrency, prefix="warmup")
        _drained_to(weir.http, 1)
        start = rss_bytes(server.pid)
        with _PeakSampler(server.pid) as sampler:
            seconds = fleet.churn(cycles, concurrency=concurrency)
            _drained_to(weir.http, 1)
        end = rss_bytes(server.pid)
        proxies = _proxy_ids(weir.http)
        closed = streams_closed(weir.http)
    return ChurnRun(
        cycles=cycles,
        seconds=seconds,
        start_rss=start,
        peak_rss=sampler.peak,
        end_rss=end,
        proxies_after=proxies,
        streams_closed=closed,
    )


def _drained_to(http: httpx.Client, count: int, timeout: float = DRAIN_TIMEOUT_S) -> None:
    """Wait (bounded) until weir lists `count` proxies: every churned stream closed."""
    deadline = time.monotonic() + timeout
    while len(_proxy_ids(http)) != count and time.monotonic() < deadline:
        time.sleep(0.05)


def report(run: ChurnRun, *, warmup: int) -> list[str]:
    mib = 1024 * 1024
    verdict = "met" if run.ratio <= GOAL_RATIO else "NOT met"
    return [
        f"{run.cycles} connect/disconnect cycles of simulated ADS clients in {run.seconds:.1f} s "
        f"(SotW and delta, clean and abrupt ends, after {warmup} warm-up cycles):",
        f"  controller RSS: start {run.start_rss / mib:.1f} MiB, peak {run.peak_rss / mib:.1f} "
        f"MiB, end {run.end_rss / mib:.1f} MiB",
        f"  end/start ratio: {run.ratio:.3f} (goal <= {GOAL_RATIO:.2f}, {verdict})",
        f"  streams weir closed: {run.streams_closed}; proxies listed after: "
        f"{', '.join(run.proxies_after) or 'none'}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=1000, help="measured cycles (1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="cycles at a time (16)")
    parser.add_argument("--warmup", type=int, default=200, help="cycles before the start (200)")
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--cycles and --concurrency must be at least 1, --warmup at least 0")
    run = measure_churn(args.cycles, concurrency=args.concurrency, warmup=args.warmup)
    for line in report(run, warmup=args.warmup):
        print(line)


if __name__ == "__main__":
    main()
