"""`weir` as a person at a terminal meets it: real processes against a real `weir serve`.

`--watch` keeps watching through a restart of the server, saying that it reconnects; colour
shows on a terminal and never in a pipe or with NO_COLOR.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._weir import WEIR, WeirServer

pytestmark = pytest.mark.timeout(90)

ANSI = "\x1b["


@pytest.fixture
def weir(tmp_path: Path) -> Iterator[WeirServer]:
    """weir serve without a stats source (nothing judges: the test promotes each step), with
    web: a (v1) live and c (v2) registered."""
    with WeirServer(tmp_path, options=("--stats", "off")) as server:
        server.service("web", rollout={"steps": [50, 100], "bake": "0s", "grace": "0s"})
        server.instance("web", "a", "10.0.0.1:80", version="v1")
        server.instance("web", "c", "10.0.0.2:80", version="v2")
        server.live("a", 1)
        yield server


def environment(server: WeirServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return env | {"WEIR_SERVER": server.api_url, "WEIR_TOKEN": server.token or ""} | extra


def promote_until_done(server: WeirServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        status = server.call("GET", "/v1/rollouts/web")
        if status["state"] == "completed":
            return
        if status["step"] > 0:
            server.api.post("/v1/rollouts/web/promote", json={})
        time.sleep(0.2)
    raise AssertionError("the rollout did not complete")


def start_watch(server: WeirServer) -> subprocess.Popen[str]:
    """`weir rollout status web --watch`, redrawing every 0.2 s, its output piped."""
    return subprocess.Popen(
        [WEIR, "rollout", "status", "web", "--watch", "--interval", "0.2"],
        env=environment(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_watch_reconnects_through_a_server_restart(weir: WeirServer) -> None:
    server = weir
    server.call("POST", "/v1/rollouts", {"service": "web", "version": "v2"}, expect=201)
    watch = start_watch(server)
    try:
        time.sleep(1.0)
        server.stop()  # the whole server goes away...
        time.sleep(2.0)
        server.start()  # ...and comes back on the same ports and ledger
        promote_until_done(server, time.monotonic() + 30)
        out, err = watch.communicate(timeout=30)
    finally:
        watch.kill()

    assert watch.returncode == 0, err
    assert f"weir: reconnecting to {server.api_url}: cannot reach the weir server" in err
    assert f"weir: reconnected to {server.api_url} after " in err
    assert "— completed, step 2 of 2 (100%)" in out


def test_a_watch_started_while_the_server_is_down_waits_for_it(weir: WeirServer) -> None:
    server = weir
    server.call("POST", "/v1/rollouts", {"service": "web", "version": "v2"}, expect=201)
    server.stop()
    watch = start_watch(server)
    try:
        time.sleep(1.5)
        assert watch.poll() is None  # still trying, not exited on its first request
        server.start()
        promote_until_done(server, time.monotonic() + 30)
        out, err = watch.communicate(timeout=30)
    finally:
        watch.kill()

    assert watch.returncode == 0, err
    assert f"weir: reconnecting to {server.api_url}: cannot reach the weir server" in err
    assert "— completed, step 2 of 2 (100%)" in out


def run_in_terminal(argv: list[str], env: dict[str, str]) -> str:
    """What `argv` writes to a pseudo-terminal."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 20)
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed: the process is done
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        process.wait(timeout=20)
        os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_only(weir: WeirServer) -> None:
    argv = [WEIR, "instance", "list", "web"]

    coloured = run_in_terminal(argv, environment(weir))
    plain = run_in_terminal(argv, environment(weir, NO_COLOR="1"))
    flagged = run_in_terminal([*argv, "--no-color"], environment(weir))
    piped = subprocess.run(argv, env=environment(weir), capture_output=True, text=True).stdout

    assert ANSI in coloured and "live weight 1" in coloured
    for text in (plain, flagged, piped):
        assert ANSI not in text
        assert "live weight 1" in text
