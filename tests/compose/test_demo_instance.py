"""`weir demo-instance`, the process docker-compose.yml runs per instance: it serves its id in
the foreground and a stop signal ends it cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections import Counter

import httpx
import pytest

from controlplane.harness import free_port, weir_command
from tests.cli._run import invoke

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def _start(*options: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [weir_command(), "demo-instance", "--listen", f"127.0.0.1:{port}", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}/"


def _first_answer(process: subprocess.Popen[str], url: str) -> httpx.Response:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited {process.returncode}: {process.communicate()[0]}"
        try:
            return httpx.get(url, timeout=2.0, trust_env=False)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"no answer from {url} after {READY_TIMEOUT_S:g}s")


def _stop(process: subprocess.Popen[str], signum: signal.Signals) -> tuple[int, str]:
    process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=STOP_TIMEOUT_S)
        raise AssertionError(f"still running {STOP_TIMEOUT_S:g}s after {signum.name}") from None
    return process.returncode, output


def test_it_serves_its_id_until_sigterm_then_exits_0() -> None:
    process, url = _start("--id", "checkout-v1-a")
    try:
        first = _first_answer(process, url)
        more = [httpx.get(url, timeout=2.0, trust_env=False) for _ in range(20)]
    finally:
        code, output = _stop(process, signal.SIGTERM)

    assert (first.status_code, first.text) == (200, "checkout-v1-a")
    assert {(r.status_code, r.text) for r in more} == {(200, "checkout-v1-a")}
    assert code == 0, output
    assert "checkout-v1-a serving on 127.0.0.1:" in output
    assert "SIGTERM, stopped after 21 requests" in output


def test_it_fails_its_share_with_the_status_asked_and_sigint_ends_it() -> None:
    process, url = _start("--id", "bad", "--error-rate", "1", "--error-status", "503")
    try:
        _first_answer(process, url)
        statuses = Counter(httpx.get(url, trust_env=False).status_code for _ in range(10))
    finally:
        code, output = _stop(process, signal.SIGINT)

    assert statuses == Counter({503: 10})
    assert code == 0, output


def test_a_port_in_use_is_an_error_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"

        result = invoke("demo-instance", "--id", "x", "--listen", address)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"weir: demo instance x: cannot listen on {address}")


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--listen", "nowhere"), ("--error-rate", "1.5"), ("--error-status", "42"), ("--delay", "-1")],
)
def test_a_bad_option_is_a_usage_error_naming_it(flag: str, value: str) -> None:
    result = invoke("demo-instance", "--id", "x", "--listen", "127.0.0.1:0", flag, value)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"weir: Invalid value for '{flag}'")
