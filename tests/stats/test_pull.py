"""pull: each connected proxy's admin, read through an injected HTTP client (no network)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from controlplane.defaults import EVIDENCE_STATS
from controlplane.stats import AdminSource, ClusterCounts, SourceUnavailable
from controlplane.stats._pull import admin_url, read_exposition
from controlplane.xds import ProxyRegistry
from tests.stats._exposition import exposition


def slots(*head: int) -> tuple[int, ...]:
    return (*head, *(0,) * (20 - len(head)))


def test_the_exposition_gives_cumulative_counts_per_instance_cluster() -> None:
    text = exposition(
        {"web--a": {"2": 138, "5": 62}, "web--b": {"2": 5}, "weir_xds": {"2": 9}},
        {"web--a": slots(199, 1), "web--b": slots(0, 0, 5)},
    )

    assert read_exposition(text) == {
        "web--a": ClusterCounts(200, 62, slots(199, 1)),
        "web--b": ClusterCounts(5, 0, slots(0, 0, 5)),
    }


def test_unrelated_families_are_ignored() -> None:
    text = "# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n"

    assert read_exposition(text) == {}


@pytest.mark.parametrize(
    ("admin", "peer", "url"),
    [
        ("127.0.0.1:9901", "ipv4:127.0.0.1:50000", "http://127.0.0.1:9901"),
        ("0.0.0.0:9901", "ipv4:10.1.2.3:50000", "http://10.1.2.3:9901"),
        ("[::]:9901", "ipv6:[fd00::7]:50000", "http://[fd00::7]:9901"),
        ("[::1]:9901", "ipv6:[::1]:50000", "http://[::1]:9901"),
        (None, "ipv4:127.0.0.1:50000", None),
        ("not an address", "ipv4:127.0.0.1:50000", None),
    ],
)
def test_admin_url(admin: str | None, peer: str, url: str | None) -> None:
    registry = ProxyRegistry()
    registry.connect(node_id="p", node_cluster="c", protocol="sotw", peer=peer, admin=admin)

    assert admin_url(registry.proxies()[0]) == url


Handler = Callable[[httpx.Request], httpx.Response]


class Admins:
    """Fake admins by host:port: each answers its current exposition, or fails."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = f"{request.url.host}:{request.url.port}"
        if host not in self.texts:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text=self.texts[host])


def fleet(*admins: str) -> ProxyRegistry:
    registry = ProxyRegistry()
    for n, admin in enumerate(admins, 1):
        registry.connect(
            node_id=f"proxy-{n}", node_cluster="c", protocol="sotw",
            peer="ipv4:127.0.0.1:1", admin=admin,
        )  # fmt: skip
    return registry


async def test_each_proxy_is_asked_only_for_the_evidence_and_the_counts_are_summed() -> None:
    admins = Admins()
    admins.texts["127.0.0.1:9901"] = exposition({"web--a": {"2": 10, "5": 2}}, {})
    admins.texts["127.0.0.1:9902"] = exposition({"web--a": {"2": 3}}, {"web--a": slots(3)})
    async with httpx.AsyncClient(transport=httpx.MockTransport(admins)) as http:
        source = AdminSource(fleet("127.0.0.1:9901", "127.0.0.1:9902"), http)

        scrape = await source.scrape()

    assert scrape.reporting == 2
    assert scrape.clusters == {"web--a": ClusterCounts(15, 2, slots(3))}
    for request in admins.requests:
        assert request.url.path == "/stats/prometheus"
        assert "usedonly" in request.url.params
        assert request.url.params["filter"] == EVIDENCE_STATS


async def test_a_restarted_proxy_counts_from_zero_and_totals_never_go_back() -> None:
    admins = Admins()
    admins.texts["127.0.0.1:9901"] = exposition({"web--a": {"2": 100}}, {})
    async with httpx.AsyncClient(transport=httpx.MockTransport(admins)) as http:
        source = AdminSource(fleet("127.0.0.1:9901"), http)
        first = await source.scrape()
        admins.texts["127.0.0.1:9901"] = exposition({"web--a": {"2": 7}}, {})  # restarted

        second = await source.scrape()

    assert first.clusters == {"web--a": ClusterCounts(100, 0)}
    assert second.clusters == {"web--a": ClusterCounts(107, 0)}


async def test_a_proxy_that_cannot_be_read_is_not_reporting_and_keeps_its_counts() -> None:
    admins = Admins()
    admins.texts["127.0.0.1:9901"] = exposition({"web--a": {"2": 10}}, {})
    admins.texts["127.0.0.1:9902"] = exposition({"web--a": {"2": 1}}, {})
    async with httpx.AsyncClient(transport=httpx.MockTransport(admins)) as http:
        source = AdminSource(fleet("127.0.0.1:9901", "127.0.0.1:9902"), http)
        await source.scrape()
        del admins.texts["127.0.0.1:9902"]

        scrape = await source.scrape()

        assert scrape.reporting == 1
        assert scrape.clusters == {"web--a": ClusterCounts(11, 0)}
        assert list(source.failures) == ["proxy-2"]
        assert "connection refused" in source.failures["proxy-2"]

        del admins.texts["127.0.0.1:9901"]
        with pytest.raises(SourceUnavailable, match="no proxy's admin could be read: proxy-1"):
            await source.scrape()


async def test_an_admin_answering_an_error_status_is_a_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="no")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        source = AdminSource(fleet("127.0.0.1:9901"), http)
        with pytest.raises(SourceUnavailable, match="503"):
            await source.scrape()


async def test_no_proxy_naming_its_admin_is_unavailable() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(Admins())) as http:
        source = AdminSource(fleet(), http)
        with pytest.raises(SourceUnavailable, match=r"node\.metadata\.weir_admin"):
            await source.scrape()
