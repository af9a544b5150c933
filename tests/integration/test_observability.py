"""What standard tooling sees of a real Envoy: CSDS on the xDS port says it ACKed weir's
config, /metrics counts its ACKs, and `weir proxies` shows it current."""

from __future__ import annotations

import subprocess

import grpc
import pytest
from envoy.admin.v3 import config_dump_shared_pb2 as dump
from envoy.service.status.v3 import csds_pb2, csds_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, VHOST_TYPE
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import connect_envoy, register, serves
from tests.integration._weir import WEIR, WeirServer
from tests.support import eventually


def client_status(weir: WeirServer, node_id: str) -> csds_pb2.ClientConfig:
    with grpc.insecure_channel(weir.xds) as channel:
        stub = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(channel)
        request = csds_pb2.ClientStatusRequest()
        request.node_matchers.add().node_id.exact = node_id
        (config,) = stub.FetchClientStatus(request, timeout=5).config
        return config


def acks(weir: WeirServer) -> dict[str, float]:
    text = weir.api.get("/metrics").text
    return {
        sample.labels["type"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "weir_xds_acks"
        for sample in family.samples
        if sample.name == "weir_xds_acks_total"
    }


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_csds_and_metrics_report_a_real_envoys_acks(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream, delta: bool
) -> None:
    # Given a real Envoy serving weir's config
    register(weir, start_upstream, "a", "b")
    weir.live("a", 1)
    envoy, url = connect_envoy(weir, start_envoy, "proxy-1", delta=delta)
    serves(url, "a")

    # When a change reaches it
    weir.live("b", 1)
    weir.inactive("a")
    serves(url, "b")

    # Then CSDS reports every resource it holds ACKed and current, the new cluster among them
    def synced() -> csds_pb2.ClientConfig:
        config = client_status(weir, "proxy-1")
        statuses = {(c.config_status, c.client_status) for c in config.generic_xds_configs}
        assert statuses == {(csds_pb2.SYNCED, dump.ACKED)}, config
        return config

    config = eventually(synced)
    assert config.node.id == "proxy-1"
    held = {(c.type_url, c.name) for c in config.generic_xds_configs}
    # (delta proxies take each service's virtual host on its own, by VHDS)
    types = {CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE} | ({VHOST_TYPE} if delta else set())
    assert types == {t for t, _ in held}
    assert (CLUSTER_TYPE, "web--b") in held
    # and /metrics counts as many ACKs as Envoy counts accepted updates, the change's among them
    counted = acks(weir)
    stats = envoy.stats()
    assert counted["clusters"] == stats["cluster_manager.cds.update_success"]
    assert counted["listeners"] == stats["listener_manager.lds.update_success"]
    # the first routes and the change
    assert counted["virtual_hosts" if delta else "routes"] >= 2
    # and `weir proxies` shows it holding the current state
    [proxy] = weir.proxies()
    assert proxy["in_sync"] and proxy["synced_version"] == proxy["current_version"]
    shown = subprocess.run(
        [WEIR, "proxies", "--server", weir.api_url], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0, shown.stderr
    assert "current" in shown.stdout.splitlines()[1]
