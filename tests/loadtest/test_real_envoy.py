"""`weir loadtest` through a real Envoy that weir configures: a live instance and a shadow at
50% mirror. The shadow gets about half the requests as mirrored copies; callers get 200s from
the live instance only. The report is checked against what the upstreams themselves counted."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import within_4_sd
from tests.integration._weir import WEIR, WeirServer
from tests.support import Upstream, eventually, free_port, http_get

SERVICE = "web"
RPS = 200
SECONDS = 3
N = RPS * SECONDS


@pytest.fixture
def weir(tmp_path: Path) -> Iterator[WeirServer]:
    with WeirServer(tmp_path, options=("--stats", "off")) as server:
        server.service(SERVICE)
        yield server


def loadtest(weir: WeirServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [WEIR, "--server", weir.api_url, "loadtest", SERVICE, *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def mesh(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> tuple[dict[str, Upstream], str, str]:
    """live `a` and shadow `c` at 50% behind one Envoy; its listener and admin addresses."""
    up = {name: start_upstream(name) for name in ("a", "c")}
    for name, upstream in up.items():
        weir.instance(SERVICE, name, upstream.address, version="v1" if name == "a" else "v2")
    weir.live("a", 1)
    weir.shadow("c", 50)
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    bootstrap = weir.bootstrap("proxy-1", listen=listen, delta=False)
    bootstrap["admin"]["address"]["socket_address"]["port_value"] = int(admin.split(":")[1])
    start_envoy(bootstrap)

    def serving() -> None:
        reply = http_get(f"http://{listen}/", SERVICE, timeout=1.0)
        assert reply.status == 200 and reply.body == "a", reply

    eventually(serving, timeout=15)

    def mirroring() -> None:  # the mirror policy is in place too
        http_get(f"http://{listen}/", SERVICE, timeout=1.0)
        assert up["c"].counts().mirrored > 0

    eventually(mirroring, timeout=10)
    return up, listen, admin


def test_the_shadow_gets_its_mirrored_half_and_callers_only_live_answers(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given a live instance and a shadow at 50% behind a real Envoy
    up, listen, admin = mesh(weir, start_envoy, start_upstream)
    for upstream in up.values():
        upstream.reset()

    # When weir loadtest sends 200 rps for 3 s through it
    done = loadtest(
        weir, "--rps", str(RPS), "--duration", f"{SECONDS}s", "--through", listen,
        "--admin", admin, "--json",
    )  # fmt: skip

    # Then every caller got a 200, and the report says who served what
    assert done.returncode == 0, done.stderr + done.stdout
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["client"]["sent"] == N
    assert report["client"]["statuses"] == {"200": N}
    rows = {row["id"]: row for row in report["instances"]}
    assert rows["a"]["role"] == "live" and rows["a"]["primary"] == N
    assert rows["a"]["classes"] == {"2xx": N}
    assert rows["c"]["role"] == "shadow" and rows["c"]["primary"] == 0
    assert within_4_sd(rows["c"]["shadow"], N, 0.5), rows["c"]
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    # and it agrees with what the upstreams themselves counted
    assert up["a"].counts().primary == N and up["a"].counts().mirrored == 0
    assert up["c"].counts().primary == 0
    assert up["c"].counts().mirrored == rows["c"]["shadow"]
    # with latencies from both sides
    assert report["client"]["latency_ms"]["p50"] > 0
    assert rows["a"]["p50_ms"] is not None and rows["c"]["p99_ms"] is not None


def test_the_table_for_people_and_a_failing_check(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    _, listen, admin = mesh(weir, start_envoy, start_upstream)
    args = ("--rps", "100", "--duration", "1s", "--through", listen, "--admin", admin)

    done = loadtest(weir, *args)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"loadtest web through {listen}")
    assert "callers: 100 answered — 200: 100" in done.stdout
    header = next(line for line in lines if line.startswith("INSTANCE"))
    assert header.split()[:5] == ["INSTANCE", "VERSION", "ASKED", "PRIMARY", "SHADOW"]
    row_a = next(line for line in lines if line.startswith("a "))
    assert row_a.split()[:5] == ["a", "v1", "live", "100%", "100"]
    assert any(line.startswith("  ok    shadow c got") for line in lines), done.stdout

    # When the load goes to a listener where nothing answers
    other_listen = f"127.0.0.1:{free_port()}"
    done = loadtest(weir, *args[:4], "--through", other_listen, "--admin", admin)
    assert done.returncode == 1
    assert "FAIL  no request got an answer" in done.stdout
    assert "ConnectError: 100" in done.stdout
    assert done.stderr.strip() == "weir: 1 check(s) failed"
