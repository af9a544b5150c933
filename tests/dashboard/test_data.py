"""The page and its data over ASGI, against a real ledger and a scripted stats source: the
page and assets are served safely, series come from the evaluator's recent counts, and the
timeline folds each verdict into the change it judged."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.evaluator import Evaluator, RecentCounts
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, Risk, ServiceSpec, Slo
from controlplane.stats import LATENCY_BOUNDS_MS, ClusterCounts
from controlplane.xds import ProxyRegistry
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge
from tests.support import StaticTokens, bearer


class World:
    """web: `old` live (weight 9) and `new` registered; an evaluator over a scripted source."""

    def __init__(self, tmp_path: Path) -> None:
        self.controller = Controller(SqliteStore(tmp_path / "weir.db"))
        spec = ServiceSpec(
            name="web", slo=Slo(success_rate=99), risk=Risk(cost_per_failed_request=0.5)
        )
        self.controller.apply_service(spec, actor="ops")
        for n, instance_id in enumerate(("old", "new")):
            instance = Instance(
                id=instance_id, service="web", version=f"v{n + 1}", address=f"10.0.0.{n}:80"
            )
            self.controller.add_instance(instance, actor="ops")
        self.controller.change("old", Activation.live(9), actor="ops")
        self.source = ScriptedSource()
        self.source.at = time.time() - 30  # recent: the series covers the last minutes
        self.evaluator = Evaluator(
            self.controller,
            self.source,
            judge=rate_judge,
            extra_failures=extra_failures,
            recent=RecentCounts(resolution_s=1.0, window_s=300.0),
        )

    def serve(self, cluster: str, requests: int, errors: int = 0, slow: int = 0) -> None:
        """`requests` in the 1 ms bucket but `slow` of them in the 250 ms one."""
        latency = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        latency[LATENCY_BOUNDS_MS.index(1)] = requests - slow
        latency[LATENCY_BOUNDS_MS.index(250)] = slow
        before = self.source.totals.get(cluster, ClusterCounts())
        self.source.totals[cluster] = before + ClusterCounts(requests, errors, tuple(latency))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world.controller, ProxyRegistry(), world.evaluator, auth=StaticTokens())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://weir", headers=bearer()
    ) as client:
        yield client


async def test_the_page_and_its_assets_are_served_from_weir_alone(api: httpx.AsyncClient) -> None:
    page = await api.get("/")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="dashboard/dashboard.js" defer></script>' in page.text
    for asset, kind in (("dashboard.js", "javascript"), ("dashboard.css", "text/css")):
        response = await api.get(f"/dashboard/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert response.headers["cache-control"] == "no-cache"
        # nothing fetched from elsewhere (the SVG namespace is a name, never fetched)
        text = response.text.replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text and "https://" not in text
    assert (await api.get("/dashboard/nothing.js")).status_code == 404
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert {"/v1/services/{name}/series", "/v1/services/{name}/timeline"} <= set(paths)


async def test_series_give_each_instance_its_success_rate_and_p99(
    world: World, api: httpx.AsyncClient
) -> None:
    await world.evaluator.step()
    world.serve("web--old", 200, errors=2, slow=4)
    await world.evaluator.step()
    world.serve("web--old", 100)
    await world.evaluator.step()

    response = await api.get("/v1/services/web/series")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["success_rate_slo"], body["window_s"], body["resolution_s"]) == (99, 300, 1)
    lines = {line["instance_id"]: line for line in body["instances"]}
    assert set(lines) == {"old", "new"}
    old = lines["old"]
    assert (old["state"], old["live_share"]) == ("live", 1.0)
    assert [(p["requests"], p["errors"]) for p in old["points"]] == [(200, 2), (100, 0)]
    first, second = old["points"]
    assert first["success_rate"] == pytest.approx(99.0) and second["success_rate"] == 100.0
    assert 100 < first["p99_ms"] <= 250 and second["p99_ms"] <= 1
    minute = old["last_minute"]
    assert (minute["requests"], minute["errors"], minute["seconds"]) == (300, 2, 2.0)
    assert minute["rps"] == pytest.approx(150.0)
    # no traffic: points without rates, never made-up ones
    assert [p["success_rate"] for p in lines["new"]["points"]] == [None, None]
    assert lines["new"]["last_minute"]["success_rate"] is None


async def test_the_timeline_folds_verdicts_and_costs_into_their_changes(
    world: World, api: httpx.AsyncClient
) -> None:
    change = world.controller.change("new", Activation.live(1), actor="ops", reason="try v2")
    await world.evaluator.step()
    world.serve("web--old", 900, errors=1)
    world.serve("web--new", 100, errors=30)
    await world.evaluator.step()  # fails, is recorded and rolled back

    response = await api.get("/v1/services/web/timeline", params={"limit": 3})

    assert response.status_code == 200, response.text
    rollback, judged, old_live = response.json()
    assert rollback["actor"] == "evaluator" and rollback["what"] == "new: live weight 1 → inactive"
    assert judged["seq"] == change.seq and judged["reason"] == "try v2"
    assert (judged["instance_id"], judged["version"]) == ("new", "v2")
    verdict = judged["verdict"]
    assert (verdict["outcome"], verdict["final"]) == ("fail", True)
    assert (verdict["requests"], verdict["errors"]) == (100, 30)
    assert verdict["cost"] == pytest.approx(0.5 * (30 - 100 / 900))
    assert old_live["what"] == "old: inactive → live weight 9"
    assert all(item["kind"] != "verdict_recorded" for item in response.json())


async def test_a_change_still_being_judged_shows_its_open_verdict(
    world: World, api: httpx.AsyncClient
) -> None:
    change = world.controller.change("new", Activation.live(1), actor="ops")
    await world.evaluator.step()
    world.serve("web--new", 10)
    await world.evaluator.step()  # too few requests: inconclusive, still open

    [latest] = (await api.get("/v1/services/web/timeline", params={"limit": 1})).json()

    assert latest["seq"] == change.seq
    assert latest["verdict"]["outcome"] == "inconclusive" and not latest["verdict"]["final"]


async def test_unknown_services_and_servers_without_stats_are_refused(
    world: World, api: httpx.AsyncClient
) -> None:
    for path in ("/v1/services/nope/series", "/v1/services/nope/timeline"):
        response = await api.get(path)
        assert response.status_code == 404 and response.json()["field"] == "name"
    app = create_app(world.controller, ProxyRegistry(), auth=StaticTokens())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://weir", headers=bearer()
    ) as bare:
        response = await bare.get("/v1/services/web/series")
        assert response.status_code == 503 and "without an evaluator" in response.json()["error"]
        assert (await bare.get("/v1/services/web/timeline")).status_code == 200
