"""`weir loadtest` through a real Envoy that weir configures, while other traffic flows through
the same proxy: it counts its own requests only (the proxy names the instance of each tagged
answer), reaches a route that needs a header, and says when the evaluator changed an instance
during the run, and why."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._weir import WEIR, WeirServer
from tests.support import eventually, free_port, http_get

pytestmark = pytest.mark.timeout(120)

SERVICE = "web"
RPS = 100
SECONDS = 3
N = RPS * SECONDS


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def loadtest(weir: WeirServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [WEIR, "loadtest", SERVICE, *args, "--server", weir.api_url]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL
    )


def mesh(
    weir: WeirServer,
    start_envoy: StartEnvoy,
    stack: ExitStack,
    *,
    shadow_error_rate: float = 0.0,
    routed_at_root: bool = True,
) -> tuple[dict[str, Upstream], str, str]:
    """live `a` (weight 3) and `b` (1), shadow `c` at 50%, behind one Envoy; its listener and
    admin addresses."""
    up = {
        name: stack.enter_context(
            Upstream(name, error_rate=shadow_error_rate if name == "c" else 0.0, seed=5)
        )
        for name in ("a", "b", "c")
    }
    for name, upstream in up.items():
        weir.instance(SERVICE, name, upstream.address, version="v2" if name == "c" else "v1")
    weir.live("a", 3)
    weir.live("b", 1)
    weir.shadow("c", 50)
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    bootstrap = weir.bootstrap("proxy-1", listen=listen, delta=False)
    bootstrap["admin"]["address"]["socket_address"]["port_value"] = int(admin.split(":")[1])
    start_envoy(bootstrap)

    def mirroring() -> None:
        reply = http_get(f"http://{listen}/", SERVICE, timeout=1.0)
        assert reply.status == 200 and reply.body in ("a", "b"), reply
        assert up["c"].counts().mirrored > 0

    if routed_at_root:
        eventually(mirroring, timeout=15)
    return up, listen, admin


def test_other_traffic_through_the_proxy_is_not_counted(
    tmp_path: Path, start_envoy: StartEnvoy, stack: ExitStack
) -> None:
    # Given a live split, a shadow at 50%, and someone else's steady traffic through the proxy
    weir = stack.enter_context(WeirServer(tmp_path, options=("--stats", "off")))
    weir.service(SERVICE)
    up, listen, admin = mesh(weir, start_envoy, stack)
    others = stack.enter_context(SteadyLoad(f"http://{listen}/", SERVICE, rps=60))

    # When weir loadtest sends 100 rps for 3 s through the same proxy
    done = loadtest(
        weir, "--rps", str(RPS), "--duration", f"{SECONDS}s", "--through", listen,
        "--admin", admin, "-o", "json",
    )  # fmt: skip

    # Then it counts its own requests, all of them, and its checks pass
    assert done.returncode == 0, done.stderr + done.stdout
    report: dict[str, Any] = json.loads(done.stdout)
    assert others.total > 60  # the other traffic did flow meanwhile
    client = report["client"]
    answered = client["answered"]
    # (on a busy machine a few may miss the time bound: each is accounted for all the same)
    assert client["sent"] == answered + sum(client["errors"].values()) + client["cancelled"] == N
    assert client["statuses"] == {"200": answered}
    rows = {row["id"]: row for row in report["instances"]}
    assert rows["a"]["primary"] + rows["b"]["primary"] == answered
    assert rows["a"]["classes"] == {"2xx": rows["a"]["primary"]}
    assert rows["c"]["primary"] == 0 and rows["c"]["role"] == "shadow"
    # while the proxy's own counts hold the other traffic too
    assert report["proxy_live_requests"] > answered
    assert rows["c"]["shadow"] > answered // 2
    assert [check["ok"] for check in report["checks"]] == [True, True, True], report["checks"]
    assert report["checks"][0]["what"] == (
        f"callers got {answered} answers; live instances gave {answered}"
    )
    # and what the upstreams counted agrees: more than this run's, the others' too
    assert up["a"].counts().primary > rows["a"]["primary"]


def test_a_route_that_needs_a_header_and_a_path(
    tmp_path: Path, start_envoy: StartEnvoy, stack: ExitStack
) -> None:
    # Given the README's service file: only /api with x-tenant: beta is routed
    weir = stack.enter_context(WeirServer(tmp_path, options=("--stats", "off")))
    routes = [{"match": {"prefix": "/api", "headers": {"x-tenant": "beta"}}}]
    weir.service(SERVICE, routes=routes)
    _, listen, admin = mesh(weir, start_envoy, stack, routed_at_root=False)

    def routed() -> None:
        reply = http_get(f"http://{listen}/api/orders", SERVICE, timeout=1.0)
        assert reply.status == 404, reply  # the proxy is configured; this request has no route

    eventually(routed, timeout=15)
    args = ("--rps", "50", "--duration", "1s", "--through", listen, "--admin", admin)

    # When the load asks for that path with that header
    done = loadtest(weir, *args, "--path", "/api/orders?id=7", "--header", "x-tenant: beta")

    # Then the live instances answer all of it
    assert done.returncode == 0, done.stderr + done.stdout
    assert "callers: 50 answered — 200: 50" in done.stdout
    assert "ok    callers got 50 answers; live instances gave 50" in done.stdout

    # And without the header, the report says the proxy answered itself, and fails
    refused = loadtest(weir, *args, "--path", "/api/orders")
    assert refused.returncode == 1
    assert "answered by the proxy itself, naming no instance — 404: 50" in refused.stdout
    assert "the proxy itself 50 (404: 50: no route or no healthy instance" in refused.stdout


def test_the_evaluator_removing_the_shadow_mid_run_is_said_with_its_verdict(
    tmp_path: Path, start_envoy: StartEnvoy, stack: ExitStack
) -> None:
    # Given a shadow whose every answer is a 500, judged from the stats Envoy pushes
    weir = stack.enter_context(WeirServer(tmp_path, options=("--stats", "push")))
    weir.service(SERVICE, slo={"success_rate": 95})
    _, listen, admin = mesh(weir, start_envoy, stack, shadow_error_rate=1.0)

    # When the load runs long enough for a verdict (a proxy's first counts of an instance wait
    # out a 5 s probation, then the shadow's 2 s warm-up judges gross failure)
    done = loadtest(
        weir, "--rps", "100", "--duration", "15s", "--through", listen, "--admin", admin
    )

    # Then the report says the evaluator took c out during the run, and why
    assert done.returncode == 0, done.stderr + done.stdout
    lines = done.stdout.splitlines()
    changed = lines.index("changed during the run:")
    said = "\n".join(lines[changed + 1 :])
    assert "evaluator: c verdict fail on #" in said
    assert "evaluator: c shadow 50% → inactive — rollback: change " in said
    assert "failed its verdict" in said
    assert "ok    shadow c: not checked, its activation changed during the run" in done.stdout
