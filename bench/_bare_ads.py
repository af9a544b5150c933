"""The least an ADS server on grpc.aio can be: the memory baseline of bench.sim_clients.

It answers every subscription (a request without a response nonce) with one canned response
of that type (no clusters, one listener built as weir builds it, one empty route
configuration) and takes every ACK without a word: no session, no registry, no metrics, no
snapshot. What a stream costs it is what grpc.aio, one TCP connection and one streaming
handler cost; what a stream costs weir beyond that is weir's own.

    python -m bench._bare_ads HOST:PORT [--weir-options]  # prints "ready" once it listens
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from bench._ads_client import SIMULATED_LISTEN
from bench._common import raise_open_files_limit
from controlplane.model import split_address
from controlplane.resources import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_CONFIG_NAME,
    ROUTE_TYPE,
    Encoded,
    build_listener,
)
from controlplane.xds._limits import XdsLimits

VERSION = "bare"


def _canned() -> dict[str, list[Encoded]]:
    route = route_pb2.RouteConfiguration(name=ROUTE_CONFIG_NAME)
    return {
        CLUSTER_TYPE: [],
        LISTENER_TYPE: [build_listener(*split_address(SIMULATED_LISTEN))],
        ROUTE_TYPE: [Encoded.of(ROUTE_CONFIG_NAME, route)],
    }


class BareAds(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self._canned = _canned()

    async def StreamAggregatedResources(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        async for request in requests:
            if not request.response_nonce:
                yield discovery_pb2.DiscoveryResponse(
                    version_info=VERSION,
                    type_url=request.type_url,
                    nonce=VERSION,
                    resources=[r.packed() for r in self._canned.get(request.type_url, [])],
                )

    async def DeltaAggregatedResources(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[discovery_pb2.DeltaDiscoveryResponse]:
        async for request in requests:
            if not request.response_nonce:
                yield discovery_pb2.DeltaDiscoveryResponse(
                    system_version_info=VERSION,
                    type_url=request.type_url,
                    nonce=VERSION,
                    resources=[
                        discovery_pb2.Resource(name=r.name, version=r.version, resource=r.packed())
                        for r in self._canned.get(request.type_url, [])
                    ],
                )


async def serve(address: str, options: list[tuple[str, Any]]) -> None:
    server = grpc.aio.server(options=options)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(BareAds(), server)
    server.add_insecure_port(address)
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def main() -> None:
    import uvloop

    raise_open_files_limit()
    # --weir-options: the gRPC channel arguments `weir serve` gives its xDS port (message
    # size, keepalive, connection age), which cost grpc-core memory per connection too.
    options = XdsLimits().grpc_options() if "--weir-options" in sys.argv[2:] else []
    uvloop.run(serve(sys.argv[1], options))


if __name__ == "__main__":
    main()
