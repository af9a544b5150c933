"""A real Envoy on delta ADS takes each service's virtual host by VHDS: a change to one service
among several reaches its traffic as that one virtual host, a new service appears, and a retired
instance's cluster leaves only once no route names it — with traffic flowing throughout."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from controlplane.harness import SteadyLoad
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WeirServer
from tests.support import eventually, http_get, send_requests

ONE_VIRTUAL_HOST_BYTES = 2048
"""More than a delta response carrying one small virtual host; far less than ten of them."""


def bytes_sent(weir: WeirServer) -> dict[str, float]:
    """Bytes of delta responses weir sent, per resource type, from its /metrics."""
    text = weir.api.get("/metrics").text
    return {
        sample.labels["type"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "weir_xds_response_bytes"
        for sample in family.samples
        if sample.name == "weir_xds_response_bytes_total" and sample.labels["protocol"] == "delta"
    }


def answers(url: str, host: str, *bodies: str) -> None:
    def check() -> None:
        reply = http_get(url, host, timeout=1.0)
        assert reply.status == 200 and reply.body in bodies, reply

    eventually(check, timeout=15, retry_on=(AssertionError, OSError))


def test_one_service_changes_alone_and_new_services_appear(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given ten services behind one delta Envoy: web (a live, b at weight 0) and nine others
    register(weir, start_upstream, "a", "b")
    weir.live("a", 1)
    weir.live("b", 0)
    others = [f"svc-{n}" for n in range(9)]
    for name in others:
        weir.service(name, domains=[f"{name}.internal"])
        weir.instance(name, f"{name}-1", start_upstream(f"{name}-1").address)
        weir.live(f"{name}-1", 1)
    envoy, url = connect_envoy(weir, start_envoy, "proxy-1", delta=True)
    serves(url, "a")
    answers(url, "svc-3.internal", "svc-3-1")
    # whose route configuration came with a VHDS source, and its virtual hosts one by one
    [routes] = envoy.config_dump("dynamic_route_configs")["configs"]
    config = routes["route_config"]
    assert config["name"] == "weir" and "vhds" in config
    vhosts = {v["name"] for v in config["virtual_hosts"]}
    assert vhosts == {"weir/web", *(f"weir/{name}" for name in others)}
    before = bytes_sent(weir)

    # When only web's weights change
    weir.live("b", 1_000_000)
    weir.live("a", 0)

    # Then web's traffic follows, the others are untouched
    serves(url, "b")
    assert send_requests(url, 50, SERVICE).bodies() == {"b": 50}
    answers(url, "svc-3.internal", "svc-3-1")
    # and weir sent no route configuration and no cluster, only web's virtual host, twice
    after = bytes_sent(weir)
    assert after["routes"] == before["routes"]
    assert after["clusters"] == before["clusters"]
    assert 0 < after["virtual_hosts"] - before["virtual_hosts"] <= 2 * ONE_VIRTUAL_HOST_BYTES

    # When a new service appears, with an instance made live at once
    weir.service("shop")
    weir.instance("shop", "till", start_upstream("till").address)
    weir.live("till", 1)

    # Then Envoy routes to it too
    answers(url, "shop", "till")
    assert send_requests(url, 20, "svc-8").bodies() == {"svc-8-1": 20}


def test_a_retired_cluster_leaves_only_after_the_route_naming_it(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given web split over a and b, and another service, behind one delta Envoy under load
    register(weir, start_upstream, "a", "b")
    weir.live("a", 1)
    weir.live("b", 1)
    weir.service("shop")
    weir.instance("shop", "till", start_upstream("till").address)
    weir.live("till", 1)
    envoy, url = connect_envoy(weir, start_envoy, "proxy-1", delta=True)
    serves(url, "a", "b")

    with SteadyLoad(url, SERVICE) as load:
        # When b is taken out of the route and retired at once
        weir.inactive("b")
        weir.retire("b")

        # Then its cluster leaves Envoy, and no request failed on the way
        eventually(lambda: "web--b::" not in envoy.admin_get("/clusters"), timeout=15)
        eventually(lambda: load.bodies["a"] > 50)
        before = load.bodies["b"]
        assert send_requests(url, 20, SERVICE).bodies() == {"a": 20}
    assert set(load.outcomes) == {"200"}, load.outcomes
    assert load.bodies["b"] == before
    assert "shop--till::" in envoy.admin_get("/clusters")


def test_an_envoy_that_connected_to_an_empty_mesh_routes_the_first_service(
    tmp_path: Path, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given a delta Envoy connected to a weir with no service at all
    with WeirServer(tmp_path) as weir:
        envoy, url = connect_envoy(weir, start_envoy, "proxy-1", delta=True)
        # its listener answers at once: its (empty) route configuration has no VHDS source,
        # whose first update Envoy would wait for until its initial-fetch timeout (15 s)
        assert http_get(url, SERVICE, timeout=1.0).status == 404
        [routes] = envoy.config_dump("dynamic_route_configs")["configs"]
        assert "vhds" not in routes["route_config"]

        # When the first service appears, with a live instance
        weir.service(SERVICE)
        register(weir, start_upstream, "a")
        weir.live("a", 1)

        # Then Envoy routes to it, its virtual host having come by VHDS
        serves(url, "a")
        [routes] = envoy.config_dump("dynamic_route_configs")["configs"]
        assert "vhds" in routes["route_config"]
