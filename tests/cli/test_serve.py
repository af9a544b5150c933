"""`weir serve` as operators run it: a child process, one ready line, a clean stop on a signal."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

WEIR = str(Path(sys.executable).parent / "weir")
READY = re.compile(r"^weir serving xDS on (\S+) and the API on (http://\S+) \(ledger (.+)\)$")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [WEIR, "serve", "--store", str(tmp_path / "weir.db"), "--xds", "127.0.0.1:0",
         "--api", "127.0.0.1:0", "--compare", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_serve_prints_where_it_listens_and_stops_on_a_signal(
    serve: subprocess.Popen[str], tmp_path: Path, signum: signal.Signals
) -> None:
    assert serve.stdout is not None and serve.stderr is not None
    line = serve.stdout.readline().rstrip("\n")  # bounded by the test timeout
    ready = READY.match(line)
    assert ready, line
    xds, api, ledger = ready.groups()
    comparator = serve.stdout.readline().rstrip("\n")
    assert comparator.startswith("comparator: 127.0.0.1:"), comparator

    health = httpx.get(f"{api}/healthz", timeout=5)
    xds_host, xds_port = xds.rsplit(":", 1)
    with socket.create_connection((xds_host, int(xds_port)), timeout=5):
        pass
    serve.send_signal(signum)

    assert health.json() == {"status": "ok", "ledger_seq": 1}  # the first admin token
    assert ledger == str(tmp_path / "weir.db")
    assert serve.wait(timeout=15) == 0
    assert "Traceback" not in serve.stderr.read()


def refusal(tmp_path: Path, **addresses: str) -> str:
    """The last line `weir serve` writes when it cannot start with these --xds, --api and
    --compare addresses (free ports by default), having checked it exits 1 without a
    traceback."""
    listen = {"xds": "127.0.0.1:0", "api": "127.0.0.1:0", "compare": "127.0.0.1:0", **addresses}
    options = [word for name, address in listen.items() for word in (f"--{name}", address)]
    result = subprocess.run(
        [WEIR, "serve", "--store", str(tmp_path / "weir.db"), *options],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("option", "what"), [("api", "the HTTP API"), ("xds", "xDS"), ("compare", "the comparator")]
)
def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path, option: str, what: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        last = refusal(tmp_path, **{option: f"127.0.0.1:{port}"})

    assert last.startswith(f"weir: cannot listen for {what} on 127.0.0.1:{port}")


def test_a_comparator_on_every_address_needs_the_address_proxies_reach(tmp_path: Path) -> None:
    assert "--compare-address" in refusal(tmp_path, compare="0.0.0.0:0")


def test_an_unknown_store_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [WEIR, "serve", "--store", "mysql://db/weir"], capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 1
    assert result.stderr.startswith("weir: unknown store 'mysql://db/weir'")
