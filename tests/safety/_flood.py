"""Attack clients that run in a process of their own, so the load they make is not the test's:

python -m tests.safety._flood nodes XDS --streams 60 --metadata-bytes 3900000
    hold ADS streams from distinct node ids, each first request carrying that much node
    metadata; print how many were admitted, then hold them until stdin closes
python -m tests.safety._flood clusters XDS --clusters 50000 --messages 40
    hold an ADS stream as node `flood`, and on its connection push metrics messages each
    naming that many made-up instance clusters; reconnect when refused
python -m tests.safety._flood idle HOST:PORT --connections 9000
    open that many TCP connections that never send a byte; print how many opened, then
    hold them until stdin closes
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import struct_pb2

from controlplane.resources import CLUSTER_TYPE
from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._proto import prometheus_metrics_pb2 as pm
from controlplane.stats._push import METHOD_PATH


def _request(node_id: str, metadata_bytes: int = 0) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
    request.node.id = node_id
    if metadata_bytes:
        filler = struct_pb2.Value(string_value="x" * metadata_bytes)
        request.node.metadata.fields["filler"].CopyFrom(filler)
    return request


async def _ads(channel: grpc.aio.Channel, first: Any) -> Any:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    queue.put_nowait(first)

    async def requests() -> AsyncIterator[Any]:
        while (request := await queue.get()) is not None:
            yield request

    return ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(
        requests()
    )


async def nodes(xds: str, streams: int, metadata_bytes: int) -> None:
    options = [("grpc.max_send_message_length", 8 * 1024 * 1024)]
    channel = grpc.aio.insecure_channel(xds, options=options)
    calls = [await _ads(channel, _request(f"n{n}", metadata_bytes)) for n in range(streams)]
    admitted = 0
    for call in calls:
        try:
            await asyncio.wait_for(call.read(), 10)
            admitted += 1
        except (grpc.aio.AioRpcError, TimeoutError):
            pass
    print(admitted, flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await channel.close()


def field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_PLACE = b"0000000"


def _metric_template() -> bytes:
    metric = pm.Metric(
        label=[
            pm.LabelPair(name="envoy.response_code_class", value="2"),
            pm.LabelPair(name="envoy.cluster_name", value="made--up" + _PLACE.decode()),
        ],
        counter=pm.Counter(value=1.0),
    )
    return field(4, metric.SerializeToString())


def _flush(clusters: int, offset: int, node_id: str | None) -> bytes:
    """One metrics message naming `clusters` made-up instance clusters, serialized (built from
    bytes: two million protobuf objects would take this process longer than the attack)."""
    template = _metric_template()
    head, tail = template.split(_PLACE)
    metrics = b"".join(head + b"%07d" % (offset + n) + tail for n in range(clusters))
    family = field(1, b"cluster.upstream_rq_xx") + b"\x18\x00" + metrics
    message = field(2, family)
    if node_id is not None:
        identifier = metrics_service_pb2.StreamMetricsMessage()
        identifier.identifier.node.id = node_id
        message = identifier.SerializeToString() + message
    return message


async def clusters(xds: str, per_message: int, messages: int, seconds: float) -> None:
    sent = streams = refused = 0
    deadline = time.monotonic() + seconds
    while sent < messages and time.monotonic() < deadline:
        channel = grpc.aio.insecure_channel(xds)
        ads = await _ads(channel, _request("flood"))
        try:
            await asyncio.wait_for(ads.read(), 30)
        except (grpc.aio.AioRpcError, TimeoutError):
            # No ADS stream (a busy server, or the node's stream cap while weir has yet to
            # see the last one close): no stats stream either, so none is counted.
            await channel.close()
            continue
        streams += 1
        call = channel.stream_unary(
            METHOD_PATH,
            request_serializer=lambda raw: raw,
            response_deserializer=metrics_service_pb2.StreamMetricsResponse.FromString,
        )

        async def stream(start: int) -> AsyncIterator[bytes]:
            nonlocal sent
            for n in range(start, messages):
                if time.monotonic() > deadline:
                    return
                flush = _flush(per_message, n * per_message, "flood" if n == start else None)
                sent += 1
                yield flush
                await asyncio.sleep(0.25)

        try:
            await call(stream(sent), timeout=120)
        except grpc.aio.AioRpcError:
            refused += 1
        await channel.close()
    print(sent, streams, refused, flush=True)


async def idle(address: str, connections: int) -> None:
    host, _, port = address.rpartition(":")
    held = []
    for _ in range(connections):
        try:
            held.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            break
    print(len(held), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    for sock in held:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="attack", required=True)
    p = sub.add_parser("nodes")
    p.add_argument("xds")
    p.add_argument("--streams", type=int, default=60)
    p.add_argument("--metadata-bytes", type=int, default=3_900_000)
    p = sub.add_parser("clusters")
    p.add_argument("xds")
    p.add_argument("--clusters", type=int, default=50_000)
    p.add_argument("--messages", type=int, default=45)
    p.add_argument("--seconds", type=float, default=60)
    p = sub.add_parser("idle")
    p.add_argument("address")
    p.add_argument("--connections", type=int, default=9000)
    args = parser.parse_args()
    if args.attack == "nodes":
        asyncio.run(nodes(args.xds, args.streams, args.metadata_bytes))
    elif args.attack == "clusters":
        asyncio.run(clusters(args.xds, args.clusters, args.messages, args.seconds))
    else:
        asyncio.run(idle(args.address, args.connections))


if __name__ == "__main__":
    main()
