"""SIGTERM ends `weir serve` within 2 s however busy it is, and Envoy keeps serving.

Busy: a few hundred services with an open change each (the evaluator judging them every
second), Envoys of both protocols connected and pushing stats, steady traffic through one of
them, and eight API clients registering instances as fast as they can when the signal comes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from controlplane.harness import SteadyLoad
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WeirServer

SERVICES = 300
STOP_GOAL_S = 2.0
WRITERS = 8


def big_mesh(services: int) -> dict[str, object]:
    return {
        "services": [{"name": f"svc-{s}"} for s in range(services)],
        "instances": [
            {
                "id": f"svc-{s}-{i}",
                "service": f"svc-{s}",
                "version": "v1",
                "address": f"10.1.{s // 250}.{s % 250 + 1}:{8000 + i}",
                **({"activation": {"state": "live"}} if i == 0 else {}),
            }
            for s in range(services)
            for i in range(5)
        ],
    }


def hammer(weir: WeirServer, writer: int, stop: threading.Event, done: list[int]) -> None:
    """Register instances one at a time until the server goes away."""
    with httpx.Client(
        base_url=weir.api_url, headers=weir.headers, timeout=5.0, trust_env=False
    ) as api:
        for n in range(1_000_000):
            if stop.is_set():
                return
            body = {
                "id": f"w{writer}-{n}",
                "service": f"svc-{n % SERVICES}",
                "version": "v2",
                "address": f"10.2.{writer}.{n % 250 + 1}:9000",
            }
            try:
                api.post("/v1/instances", json=body)
            except httpx.TransportError:
                return  # the server is gone
            done.append(1)


def test_sigterm_under_load_ends_weir_within_2s_and_envoy_keeps_serving(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given a busy weir: a big mesh, two Envoys, traffic, and writers registering instances
    assert weir.call("POST", "/v1/apply", big_mesh(SERVICES))["entries"] == SERVICES * 7
    register(weir, start_upstream, "a")
    weir.live("a", 1)
    _, url = connect_envoy(weir, start_envoy, "sotw", delta=False)
    connect_envoy(weir, start_envoy, "delta", delta=True)
    serves(url, "a")
    stop, done = threading.Event(), list[int]()
    writers = [
        threading.Thread(target=hammer, args=(weir, w, stop, done), daemon=True)
        for w in range(WRITERS)
    ]
    with SteadyLoad(url, SERVICE, rps=100) as load:
        for writer in writers:
            writer.start()
        while len(done) < 200:
            time.sleep(0.05)
        # When it is sent SIGTERM
        signalled = time.monotonic()
        weir.stop()
        took = time.monotonic() - signalled
        # Then it is gone within the goal, and Envoy serves on from what it holds
        served_at_stop = load.total
        time.sleep(1.0)
        stop.set()
    for writer in writers:
        writer.join(timeout=10)

    assert took <= STOP_GOAL_S, f"weir serve took {took:.2f}s to stop"
    assert load.total - served_at_stop >= 50, "Envoy went on serving after weir stopped"
    assert set(load.outcomes) == {"200"}, load.outcomes


HANGING_STOP = """
import asyncio, sys
import controlplane.serve

async def never_done(self, grace=0.5):
    await asyncio.sleep(60)  # a stop that does not end: what the deadline is for

controlplane.serve.ControlPlane.stop = never_done
from controlplane.cli._main import main
sys.argv[0] = "weir"
main()
"""


def test_a_stop_that_hangs_is_cut_short_at_the_deadline(tmp_path: Path) -> None:
    command = [sys.executable, "-c", HANGING_STOP, "serve", "--store", str(tmp_path / "w.db")]
    command += ["--xds", "127.0.0.1:0", "--api", "127.0.0.1:0", "--stats", "off"]
    serve = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None and serve.stderr is not None
        assert serve.stdout.readline().startswith("weir serving")
        signalled = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        status = serve.wait(timeout=10)
        took = time.monotonic() - signalled
    finally:
        serve.kill()
    assert status == 0
    assert took <= STOP_GOAL_S, f"{took:.2f}s"
    assert "exits now (not stopped 1.5s after the signal)" in serve.stderr.read()
