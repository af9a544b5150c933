"""/v1/history and /v1/proxies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from controlplane.resources import CLUSTER_TYPE, ROUTE_TYPE
from controlplane.xds import ProxyRegistry


async def test_history_lists_every_entry_in_order(web: httpx.AsyncClient) -> None:
    entries = (await web.get("/v1/history")).json()

    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert [e["event"]["kind"] for e in entries] == [
        "service_applied",
        "instance_registered",
        "instance_registered",
        "activation_changed",
    ]
    assert set(entries[0]) == {"seq", "at", "actor", "reason", "event"}
    assert datetime.fromisoformat(entries[0]["at"]).tzinfo is not None


async def test_history_of_one_service(web: httpx.AsyncClient) -> None:
    await web.put("/v1/services/auth", json={"name": "auth"})

    auth = (await web.get("/v1/history", params={"service": "auth"})).json()
    unknown = await web.get("/v1/history", params={"service": "nope"})

    assert [e["seq"] for e in auth] == [5]
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown service 'nope'", "field": "service"}


async def test_proxies_show_acks_and_envoys_nack_message(
    api: httpx.AsyncClient, registry: ProxyRegistry
) -> None:
    stream = registry.connect(
        node_id="front-1", node_cluster="front", protocol="delta", peer="ipv4:127.0.0.1:5000"
    )
    registry.acked(stream, CLUSTER_TYPE, "c0ffee")
    registry.nacked(stream, ROUTE_TYPE, "bad1", "Proto constraint validation failed")

    (proxy,) = (await api.get("/v1/proxies")).json()

    assert proxy["node_id"] == "front-1"
    assert proxy["node_cluster"] == "front"
    assert proxy["protocol"] == "delta"
    assert proxy["peer"] == "ipv4:127.0.0.1:5000"
    assert proxy["acked"] == {"clusters": "c0ffee"}
    assert proxy["last_nack"]["type"] == "routes"
    assert proxy["last_nack"]["version"] == "bad1"
    assert proxy["last_nack"]["message"] == "Proto constraint validation failed"
    assert proxy["nacks"] == 1
    assert datetime.fromisoformat(proxy["connected_at"])


async def test_a_disconnected_proxy_is_gone(
    api: httpx.AsyncClient, registry: ProxyRegistry
) -> None:
    stream = registry.connect(node_id="a", node_cluster="b", protocol="sotw", peer="p")
    registry.disconnect(stream)

    assert (await api.get("/v1/proxies")).json() == []


async def test_proxies_show_their_lag_behind_the_current_snapshot(
    api: httpx.AsyncClient, registry: ProxyRegistry
) -> None:
    registry.published("v1")
    stream = registry.connect(node_id="a", node_cluster="b", protocol="sotw", peer="p")
    registry.synced(stream, "v1")
    (synced,) = (await api.get("/v1/proxies")).json()

    registry.published("v2")
    registry.behind(stream, datetime.now(UTC) - timedelta(seconds=30))
    (behind,) = (await api.get("/v1/proxies")).json()

    assert synced["in_sync"] is True
    assert synced["behind_since"] is None and synced["behind_seconds"] is None
    assert (synced["synced_version"], synced["current_version"]) == ("v1", "v1")
    assert behind["in_sync"] is False
    assert (behind["synced_version"], behind["current_version"]) == ("v1", "v2")
    assert 30 <= behind["behind_seconds"] < 60


async def test_a_new_proxy_is_behind_until_it_first_catches_up(
    api: httpx.AsyncClient, registry: ProxyRegistry
) -> None:
    registry.published("v1")
    registry.connect(node_id="a", node_cluster="b", protocol="delta", peer="p")

    (proxy,) = (await api.get("/v1/proxies")).json()

    assert proxy["in_sync"] is False
    assert proxy["synced_version"] == ""
    assert proxy["behind_seconds"] >= 0
