"""Issue 15, attack 3: exhausting weir without any credentials.

Each attack runs from a process of its own (tests/safety/_flood.py) against `weir serve`, and
each test prints the figure the issue's closing note reports before asserting that the limit
held: memory stays bounded, the API and the xDS port keep serving, a co-located Envoy gets its
configuration, and a bad canary is rolled back as fast as without the attack.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WEIR, WeirServer
from tests.support import EnvoyError, eventually

pytestmark = pytest.mark.timeout(240)
MB = 1024 * 1024


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def flood(*args: str) -> Iterator[subprocess.Popen[str]]:
    """An attack from tests/safety/_flood.py; it holds what it opened until this exits."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.safety._flood", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def settled_growth(pid: int, before: int) -> int:
    """How much more RSS `pid` has than `before`, once memory freed after a burst has had a
    chance to go back to the system (weir trims every 5 s): the least seen over 7 s."""
    least = rss(pid) - before
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline and least >= 32 * MB:
        time.sleep(0.25)
        least = min(least, rss(pid) - before)
    return least


def first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()


def test_huge_node_metadata_is_refused_and_kept_by_no_stream(tmp_path: Path) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        assert weir.pid is not None
        before = rss(weir.pid)
        # When 60 ADS streams each send 3.9 MB of node metadata in their first request
        with flood("nodes", weir.xds, "--streams", "60", "--metadata-bytes", "3900000") as f:
            admitted = int(first_line(f))
            grown = settled_growth(weir.pid, before)
        print(
            f"\n60 streams x 3.9 MB of node metadata: {admitted} admitted, weir's RSS "
            f"+{grown / MB:.0f} MB while they were held"
        )

        # Then every one is refused, and weir keeps none of it
        assert admitted == 0
        assert grown < 100 * MB
        with flood("nodes", weir.xds, "--streams", "1", "--metadata-bytes", "60000") as f:
            assert first_line(f) == "1"  # 60 KB of metadata is within the 64 KiB a node may hold


def test_made_up_clusters_in_stats_cost_no_memory_and_slow_no_rollback(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    with (
        WeirServer(tmp_path, options=("--stats", "push")) as weir,
        Upstream("stable") as stable,
        Upstream("bad", error_rate=0.5, error_status=500, seed=3) as bad,
    ):
        assert weir.pid is not None
        weir.service(SERVICE)
        weir.instance(SERVICE, "stable", stable.address)
        weir.instance(SERVICE, "bad", bad.address, version="v2")
        weir.live("stable", 100)
        _, url = connect_envoy(weir, start_envoy, "front", delta=False)
        serves(url, "stable")
        before = rss(weir.pid)
        with SteadyLoad(url, SERVICE, rps=100):
            # When a client with an ADS stream of its own pushes 45 messages naming 45,000
            # made-up clusters each (about two million), while a bad canary goes live
            with flood(
                "clusters", weir.xds, "--clusters", "45000", "--messages", "45", "--seconds", "70"
            ) as f:
                time.sleep(1)
                started = time.monotonic()
                weir.live("bad", 100)

                def rolled_back() -> None:
                    try:
                        instances = weir.call("GET", "/v1/instances")
                    except httpx.HTTPError as exc:  # a server too busy to answer: not yet
                        raise AssertionError(str(exc)) from exc
                    [record] = [i for i in instances if i["instance"]["id"] == "bad"]
                    assert record["activation"]["state"] == "inactive"

                try:
                    eventually(rolled_back, timeout=60, interval=0.2)
                    took: float | None = time.monotonic() - started
                except AssertionError:
                    took = None
                counts = first_line(f).split()
                sent, streams, refused = map(int, counts) if counts else (0, 0, 0)
            grown = settled_growth(weir.pid, before)
        print(
            f"\n{sent} messages of 45,000 made-up clusters on {streams} streams ({refused} "
            "refused): "
            f"weir's RSS +{grown / MB:.0f} MB; the bad canary rolled back after "
            f"{f'{took:.1f}s' if took is not None else 'more than 60s'}"
        )

        # The flood once made it 61.6 s; now the 5 s probation of a proxy's first claims, the
        # 2 s warm-up and the judging take it to some 17 s on a busy machine (issue 15's note)
        assert took is not None and took < 30
        assert grown < 100 * MB
        assert refused == streams > 1  # each stream ended at its first message


def _serve_with_fd_limit(tmp_path: Path, limit: int) -> tuple[subprocess.Popen[str], str, str]:
    """weir serve with at most `limit` open files; its xDS and API addresses."""

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    process = subprocess.Popen(
        [WEIR, "serve", "--store", str(tmp_path / "weir.db"), "--xds", "127.0.0.1:0",
         "--api", "127.0.0.1:0", "--stats", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=limited,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("weir serving"):
            words = line.split()  # weir serving xDS on HOST:PORT and the API on URL (...)
            return process, words[4], words[9].removeprefix("http://")
    raise AssertionError("weir serve did not start")


def _xds_answers(xds: str) -> bool:
    """Whether a new proxy gets its clusters from the xDS port within 5 s."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.safety._flood", "nodes", xds, "--streams", "1",
         "--metadata-bytes", "0"],
        input="", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return result.stdout.strip() == "1"


def test_idle_connections_neither_take_the_api_down_nor_starve_the_xds_port(
    tmp_path: Path,
) -> None:
    # Given weir serve allowed 2,048 open files (the API's cap is 1,000 connections)
    process, xds, api = _serve_with_fd_limit(tmp_path, 2048)
    try:
        # When 2,500 connections to the API send nothing at all
        with flood("idle", api, "--connections", "2500") as f:
            opened = int(first_line(f))
            time.sleep(1)
            fds = len(os.listdir(f"/proc/{process.pid}/fd"))
            status: int | str
            try:
                status = httpx.get(f"http://{api}/healthz", timeout=5, trust_env=False).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            xds_ok = _xds_answers(xds)
        print(
            f"\n{opened} idle API connections: weir holds {fds} files; /healthz: {status}; "
            f"a new proxy {'gets' if xds_ok else 'does not get'} its clusters"
        )

        # Then weir holds at most its cap of them, and both ports serve
        assert fds < 1200
        assert status == 200
        assert xds_ok
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()


def test_a_connection_that_never_finishes_its_request_head_is_closed(tmp_path: Path) -> None:
    with WeirServer(tmp_path, options=("--stats", "off", "--api-header-timeout", "1")) as weir:
        host, port = weir.api_url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as slow:
            slow.settimeout(5)
            started = time.monotonic()
            closed = False
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nHost: weir\r\n":  # never the end
                    slow.sendall(bytes([byte]))  # a byte every 0.1 s
                    time.sleep(0.1)
                closed = slow.recv(100) == b""
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        took = time.monotonic() - started
        print(f"\na request head sent a byte every 0.1 s: closed after {took:.1f}s")
        assert closed
        assert 1 <= took < 3


def test_a_proxy_sharing_its_address_with_a_stream_hog_still_gets_its_config(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir, Upstream("a") as a:
        weir.service(SERVICE)
        weir.instance(SERVICE, "a", a.address)
        weir.live("a", 100)
        # When another client on 127.0.0.1 holds 64 ADS streams
        with flood("nodes", weir.xds, "--streams", "64", "--metadata-bytes", "0") as f:
            held = int(first_line(f))
            # and then a real Envoy on the same address connects
            try:
                _, url = connect_envoy(weir, start_envoy, "colocated", delta=False)
                serves(url, "a")
                got = "gets its routes"
            except (AssertionError, EnvoyError):  # Envoy is never ready without its config
                got = "gets no config"
        print(f"\n{held} ADS streams held from 127.0.0.1: a co-located Envoy {got}")
        assert held == 64
        assert got == "gets its routes"
