"""The test support against a real Envoy: weighted routing and mirroring, as Envoy does them."""

from __future__ import annotations

import math
import socket
from typing import Any

from tests.conftest import StartEnvoy, StartUpstream
from tests.support import (
    EnvoyProcess,
    Upstream,
    eventually,
    free_port,
    http_listener,
    send_requests,
    static_cluster,
)

REQUESTS = 1000


def within_4_sd(observed: int, n: int, p: float) -> bool:
    return abs(observed - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def split_with_mirror(blue: Upstream, green: Upstream, shadow: Upstream) -> dict[str, Any]:
    """blue 80 / green 20, and half of all requests mirrored to shadow."""
    route = {
        "match": {"prefix": "/"},
        "route": {
            "weighted_clusters": {
                "clusters": [{"name": "blue", "weight": 80}, {"name": "green", "weight": 20}]
            },
            "request_mirror_policies": [
                {
                    "cluster": "shadow",
                    "runtime_fraction": {
                        "default_value": {"numerator": 50, "denominator": "HUNDRED"}
                    },
                }
            ],
        },
    }
    vhost = {"name": "web", "domains": ["web"], "routes": [route]}
    return {
        "static_resources": {
            "listeners": [
                http_listener("http", {"route_config": {"name": "r", "virtual_hosts": [vhost]}})
            ],
            "clusters": [
                static_cluster(upstream.instance_id, upstream.address)
                for upstream in (blue, green, shadow)
            ],
        }
    }


def test_weighted_split_and_mirror_through_a_real_envoy(
    start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given an Envoy splitting 80/20 between blue and green, mirroring 50% to shadow
    blue, green, shadow = (start_upstream(n) for n in ("blue", "green", "shadow"))
    envoy = start_envoy(split_with_mirror(blue, green, shadow))
    host, port = envoy.listener_address("http")

    # When 1,000 requests for `web` go through its listener
    replies = send_requests(f"http://{host}:{port}/", REQUESTS, "web")

    # Then every caller got 200 from blue or green, about 80/20, never the shadow's body
    assert replies.statuses() == {200: REQUESTS}
    bodies = replies.bodies()
    assert set(bodies) <= {"blue", "green"}
    assert within_4_sd(bodies["blue"], REQUESTS, 0.8), bodies
    assert blue.counts().primary == bodies["blue"]
    assert green.counts().primary == bodies["green"]

    # And about half of them reached shadow, every one marked as a mirror ("web-shadow")
    eventually(lambda: shadow.counts().mirrored == mirrors_sent(envoy) > 0)
    counts = shadow.counts()
    assert counts.primary == 0
    assert within_4_sd(counts.mirrored, REQUESTS, 0.5), counts
    assert set(shadow.hosts()) == {"web-shadow"}
    assert blue.counts().mirrored == green.counts().mirrored == 0


def mirrors_sent(envoy: EnvoyProcess) -> int:
    """The requests Envoy says it sent to the shadow cluster."""
    return envoy.stats().get("cluster.shadow.upstream_rq_total", 0)


def test_free_port_is_free_and_on_loopback() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if something holds it


def test_upstream_answers_its_id_and_a_seeded_error_fraction() -> None:
    with Upstream("u1", error_rate=0.25, seed=7) as upstream:
        replies = send_requests(f"http://{upstream.address}/", 400, "svc")
        again = Upstream("u1", error_rate=0.25, seed=7)
        with again:
            replay = send_requests(f"http://{again.address}/", 400, "svc")
    assert replies.bodies() == {"u1": 400}
    assert within_4_sd(replies.statuses()[503], 400, 0.25), replies
    assert replies == replay  # same seed, same answers
    assert upstream.counts().primary == 400
