"""`weir bootstrap --access-log PATH`: the listener weir builds for that proxy logs every
request to PATH, a JSON object a line saying why a request failed (Envoy's response flags and
details, the instance cluster and host). A path that is no absolute path ends the stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import struct_pb2

from controlplane.bootstrap import render_bootstrap
from controlplane.errors import InvalidInput
from controlplane.harness import Upstream
from controlplane.resources import LISTENER_TYPE
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, serves
from tests.integration._weir import WeirServer
from tests.support import eventually, free_port, http_get


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_request_is_logged_with_why_it_failed(
    weir: WeirServer, start_envoy: StartEnvoy, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    with Upstream("a", error_rate=0.5, error_status=500, seed=1) as a:
        address = a.address
        weir.instance(SERVICE, "a", address)
        weir.live("a", 1)
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "proxy-1", "test", xds=weir.xds, listen=listen, access_log=str(log),
            admin=f"127.0.0.1:{free_port()}",
        )  # fmt: skip
        start_envoy(bootstrap)
        url = f"http://{listen}/"
        serves(url, "a")
        statuses = [http_get(f"{url}n/{n}", SERVICE).status for n in range(20)]
        assert 500 in statuses and 200 in statuses

    def logged() -> list[dict[str, Any]]:
        entries = [e for e in lines(log) if e["path"].startswith("/n/")]
        assert len(entries) == 20
        return entries

    entries = eventually(logged, timeout=10)  # Envoy writes its log file every second
    by_path = {e["path"]: e for e in entries}
    for n, status in enumerate(statuses):
        entry = by_path[f"/n/{n}"]
        assert entry["status"] == status
        assert entry["cluster"] == f"{SERVICE}--a" and entry["upstream"] == address
        assert entry["flags"] == "-" and entry["details"] == "via_upstream"
        assert entry["attempts"] == 1 and entry["authority"] == SERVICE


def test_the_bootstrap_refuses_a_path_that_is_not_absolute() -> None:
    with pytest.raises(InvalidInput, match="absolute"):
        render_bootstrap("p", "c", xds="127.0.0.1:18000", access_log="access.log")


def test_a_proxy_naming_no_absolute_path_gets_no_listener(weir: WeirServer) -> None:
    for path in ("access.log", "/var/log/\nx", "/" + "x" * 1024):
        metadata = struct_pb2.Struct()
        metadata.update({"weir_listen": "127.0.0.1:15001", "weir_access_log": path})
        request = discovery_pb2.DiscoveryRequest(type_url=LISTENER_TYPE)
        request.node.id = "p"
        request.node.metadata.CopyFrom(metadata)
        with grpc.insecure_channel(weir.xds) as channel:
            ads = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            stream = ads.StreamAggregatedResources(iter([request]), timeout=10)
            with pytest.raises(grpc.RpcError) as ended:
                next(iter(stream))
        assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
        assert "weir_access_log" in str(ended.value.details())
