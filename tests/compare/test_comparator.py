"""The comparator on real sockets, without Envoy: what it sends on, what it refuses, and how it
stays bounded under hostile or excessive input."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from controlplane.compare import Comparator, ComparatorLimits
from controlplane.control import Controller
from controlplane.harness import Upstream
from controlplane.ledger import SqliteStore
from controlplane.model import (
    COMPARE_HEADER,
    ROUTE_HEADER,
    Activation,
    Compare,
    Instance,
    ServiceSpec,
)

CAP = 64 * 1024


@dataclass
class World:
    controller: Controller
    comparator: Comparator
    url: str
    candidate: Upstream
    change_seq: int


@pytest.fixture
def upstreams() -> Iterator[dict[str, Upstream]]:
    started = {
        name: Upstream(name, delay=0.3 if name == "slow" else 0.0).start()
        for name in ("old-a", "old-b", "cand", "slow")
    }
    yield started
    for upstream in started.values():
        upstream.stop()


async def world(upstreams: dict[str, Upstream], candidate: str, **limits: float) -> World:
    controller = Controller(SqliteStore(":memory:"))
    controller.apply_service(ServiceSpec(name="web", compare=Compare()), actor="ops")
    controller.apply_service(ServiceSpec(name="plain"), actor="ops")
    for name, upstream in upstreams.items():
        version = "v1" if name.startswith("old") else "v2"
        instance = Instance(id=name, service="web", version=version, address=upstream.address)
        controller.add_instance(instance, actor="ops")
    for name in ("old-a", "old-b"):
        controller.change(name, Activation.live(1), actor="ops")
    change = controller.change(candidate, Activation.shadow(100), actor="ops")
    sock = socket.create_server(("127.0.0.1", 0))
    comparator = Comparator(
        lambda: controller.state,
        limits=ComparatorLimits(**{"max_body": CAP, **limits}),  # type: ignore[arg-type]
    )
    await comparator.start(sock)
    port = sock.getsockname()[1]
    return World(
        controller, comparator, f"http://127.0.0.1:{port}", upstreams[candidate], change.seq
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        yield client


def mirrored(instance: str = "cand", route: str = "0", **more: str) -> dict[str, str]:
    return {"Host": "web", COMPARE_HEADER: instance, ROUTE_HEADER: route, **more}


async def settled(world: World, compared: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counts = world.comparator.counts(world.change_seq)
        if counts is not None and counts.compared + counts.skipped >= compared:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not {compared} compared after 10 s")


async def test_a_mirrored_get_goes_to_the_candidate_and_two_old_instances(
    upstreams: dict[str, Upstream], http: httpx.AsyncClient
) -> None:
    w = await world(upstreams, "cand")
    try:
        headers = mirrored(**{"Accept-Encoding": "gzip", "x-envoy-expected-rq-timeout-ms": "1"})
        reply = await http.get(w.url + "/items?id=1", headers=headers)
        assert reply.status_code == 202  # answered before the three requests are made
        await settled(w, 1)
    finally:
        await w.comparator.stop()
    for name in ("old-a", "old-b", "cand"):
        assert upstreams[name].hosts() == {"web": 1}, name  # the caller's Host, kept
    counts = w.comparator.counts(w.change_seq)
    assert counts is not None and counts.compared == 1
    # the instances answer their own ids: the body differs between all three (noise and all)
    [endpoint] = counts.endpoints.values()
    body = endpoint.fields["body"]
    assert (body.candidate_only, body.noise_only, body.both) == (0, 0, 1)


async def test_the_path_is_sent_on_exactly_as_it_came(
    upstreams: dict[str, Upstream], http: httpx.AsyncClient
) -> None:
    paths: list[str] = []

    def answer(method: str, path: str) -> tuple[str, bytes]:
        paths.append(path)
        return "text/plain", b"same"

    for upstream in upstreams.values():
        upstream.answer = answer
    w = await world(upstreams, "cand")
    try:
        target = "/items/a%2Fb/%7Ex?q=a%20b&r=%2B"
        reply = await http.get(w.url + target, headers=mirrored())
        assert reply.status_code == 202
        await settled(w, 1)
    finally:
        await w.comparator.stop()
    assert paths == [target] * 3


@pytest.mark.parametrize(
    ("method", "headers", "target", "status"),
    [
        ("GET", mirrored("nobody"), "/", 404),
        ("GET", mirrored("old-a"), "/", 404),  # live, not a shadow
        ("POST", mirrored(), "/", 405),  # not a compared method
        ("GET", mirrored(route="7"), "/", 400),
        ("GET", mirrored(route="-1"), "/", 400),
        ("GET", {"Host": "web"}, "/", 404),
    ],
)
async def test_what_is_not_a_compared_request_is_refused_and_sent_nowhere(
    upstreams: dict[str, Upstream],
    http: httpx.AsyncClient,
    method: str,
    headers: dict[str, str],
    target: str,
    status: int,
) -> None:
    w = await world(upstreams, "cand")
    try:
        reply = await http.request(method, w.url + target, headers=headers)
    finally:
        await w.comparator.stop()
    assert reply.status_code == status
    assert all(u.methods() == {} for u in upstreams.values())


async def test_an_absolute_form_target_is_refused(upstreams: dict[str, Upstream]) -> None:
    w = await world(upstreams, "cand")
    try:
        answer = await raw(w.url, b"GET http://evil.example/ HTTP/1.1\r\nHost: web\r\n"
                           + b"x-weir-compare: cand\r\nx-weir-route: 0\r\n\r\n")  # fmt: skip
    finally:
        await w.comparator.stop()
    assert answer.startswith(b"HTTP/1.1 400")
    assert all(u.methods() == {} for u in upstreams.values())


async def test_when_saturated_requests_are_dropped_and_counted_not_queued(
    upstreams: dict[str, Upstream], http: httpx.AsyncClient
) -> None:
    w = await world(upstreams, "slow", concurrency=2)  # the candidate takes 0.3 s
    try:
        replies = await asyncio.gather(*(http.get(w.url + "/", headers=mirrored("slow"))
                                         for _ in range(6)))  # fmt: skip
        statuses = sorted(r.status_code for r in replies)
        await settled(w, 2)
    finally:
        await w.comparator.stop()
    assert statuses == [202, 202, 503, 503, 503, 503]
    counts = w.comparator.counts(w.change_seq)
    assert counts is not None and (counts.compared, counts.dropped) == (2, 4)


async def test_the_rate_cap_drops_the_excess(
    upstreams: dict[str, Upstream], http: httpx.AsyncClient
) -> None:
    w = await world(upstreams, "cand", rate=3)
    try:
        statuses = [(await http.get(w.url + "/", headers=mirrored())).status_code
                    for _ in range(10)]  # fmt: skip
    finally:
        await w.comparator.stop()
    assert statuses.count(202) in (3, 4)  # a second's burst, and what refills meanwhile
    assert statuses.count(503) == 10 - statuses.count(202)


async def test_an_oversized_request_body_is_refused_after_reading_at_most_the_cap(
    upstreams: dict[str, Upstream],
) -> None:
    w = await world(upstreams, "cand")
    total = 64 * 1024 * 1024
    try:
        # chunked, so the length is not known up front: the comparator must stop reading
        head = (b"GET / HTTP/1.1\r\nHost: web\r\nx-weir-compare: cand\r\nx-weir-route: 0\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        sent, answer = await upload(w.url, head, total)
    finally:
        await w.comparator.stop()
    # The answer is a 413, unless the connection's reset overtook it on its way
    assert answer.startswith(b"HTTP/1.1 413") or answer == b"reset", answer[:100]
    assert sent < total // 4  # the rest met a closed connection: never read
    counts = w.comparator.counts(w.change_seq)
    assert counts is not None and (counts.skipped, counts.compared) == (1, 0)
    assert all(u.methods() == {} for u in upstreams.values())


async def test_too_many_headers_are_refused(
    upstreams: dict[str, Upstream], http: httpx.AsyncClient
) -> None:
    w = await world(upstreams, "cand")
    try:
        headers = {**mirrored(), **{f"x-h{i}": "v" for i in range(200)}}
        reply = await http.get(w.url + "/", headers=headers)
    finally:
        await w.comparator.stop()
    assert reply.status_code == 400
    assert all(u.methods() == {} for u in upstreams.values())


async def raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    return answer


async def upload(url: str, head: bytes, total: int) -> tuple[int, bytes]:
    """Send `head` and then a chunked body of `total` bytes until the server stops reading;
    returns the body bytes written and the server's answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def answer() -> bytes:
        try:
            return await reader.read(4096)
        except ConnectionError:
            return b"reset"

    answered = asyncio.create_task(answer())
    writer.write(head)
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    try:
        while sent < total and not answered.done():
            writer.write(framed)
            await asyncio.wait_for(writer.drain(), 2)
            sent += len(chunk)
    except (ConnectionError, TimeoutError):
        pass
    got = await asyncio.wait_for(answered, 10)
    writer.close()
    return sent, got
