"""/metrics of a real `weir serve` with a real Envoy: the rollout, budget, verdict and proxy
signals, named as Prometheus names things, and every name deploy/ asks for among them. And its
logs: every change as a JSON record with its actor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.harness import SteadyLoad
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WeirServer
from tests.signals._queries import (
    alert_queries,
    dashboard_queries,
    dashboard_variable_queries,
    metric_names,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(90)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def weir(tmp_path: Path) -> Iterator[WeirServer]:
    options = ("--stats", "push", "--log-format", "json", "--log-level", "info")
    with WeirServer(tmp_path, options=options) as server:
        rollout = {"steps": [50, 100], "bake": "1h", "grace": "5m"}
        server.service(SERVICE, slo={"success_rate": 95}, rollout=rollout)
        yield server


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def scrape(weir: WeirServer) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, labels), and every family's type by its exposed names."""
    samples: Samples = {}
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(weir.api.get("/metrics").text):
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"),
        }.get(family.type, ("",))
        for suffix in suffixes:
            names[family.name + suffix] = family.type
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples, names


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def test_metrics_say_where_rollouts_budgets_and_proxies_stand(
    weir: WeirServer,
    start_envoy: StartEnvoy,
    start_upstream: StartUpstream,
    stack: ExitStack,
) -> None:
    # Given v1 live behind a real Envoy, v2 registered, and traffic
    register(weir, start_upstream, "a")
    weir.live("a", 1)
    weir.instance(SERVICE, "c", start_upstream("c").address, version="v2")
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
    serves(url, "a")
    load = stack.enter_context(SteadyLoad(url, SERVICE, rps=100, max_seconds=60))

    # When a rollout of v2 takes its first step (50%)
    weir.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2"}, expect=201)

    def first_step() -> tuple[Samples, dict[str, str]]:
        samples, names = scrape(weir)
        assert value(samples, "weir_rollout_step", service=SERVICE, rollout="web/1") == 1
        assert ("weir_error_budget_remaining_ratio", frozenset({("service", SERVICE)})) in (samples)
        assert value(samples, "weir_proxy_synced", node_id="proxy-1", protocol="sotw") == 1
        return samples, names

    samples, names = eventually(first_step, timeout=20)

    # Then /metrics says where the rollout, the budget and the proxy stand
    key = {"service": SERVICE, "rollout": "web/1"}
    assert value(samples, "weir_rollout_state", **key, state="running") == 1
    assert value(samples, "weir_rollout_state", **key, state="completed") == 0
    assert value(samples, "weir_rollout_steps", **key) == 2
    assert value(samples, "weir_rollout_traffic_ratio", **key) == 0.5
    assert value(samples, "weir_rollout_info", **key, version="v2", strategy="canary") == 1
    assert value(samples, "weir_error_budget_remaining_ratio", service=SERVICE) == 1.0
    assert load.outcomes["200"] == load.total  # nothing failed: the budget is untouched
    assert value(samples, "weir_error_budget_frozen", service=SERVICE) == 0
    assert value(samples, "weir_slo_success_ratio", service=SERVICE) == 0.95
    assert value(samples, "weir_proxy_behind_seconds", node_id="proxy-1", protocol="sotw") == 0
    assert value(samples, "weir_rollbacks_total", service=SERVICE, kind="abort") == 0

    # and names follow Prometheus's conventions: counters _total, base units
    weirs = {name: kind for name, kind in names.items() if name.startswith("weir_")}
    for name, kind in weirs.items():
        assert not any(unit in name for unit in ("_ms", "millis", "_percent")), name
        if kind == "counter":
            assert name.endswith("_total"), name
    # and every metric the dashboard and the alerts ask for is one weir exports
    asked = set().union(
        *map(metric_names, dashboard_queries() + alert_queries() + dashboard_variable_queries())
    )
    assert asked <= set(weirs), asked - set(weirs)

    # When an operator aborts it
    weir.call("POST", "/v1/rollouts/web/abort", {"reason": "test"})

    # Then the abort counts as a rollback, and the rollout's state moves
    samples, _ = scrape(weir)
    assert value(samples, "weir_rollbacks_total", service=SERVICE, kind="abort") == 1
    assert value(samples, "weir_rollouts_finished_total", service=SERVICE, outcome="aborted") == 1
    assert value(samples, "weir_rollout_state", **key, state="aborted") == 1
    assert value(samples, "weir_rollout_state", **key, state="running") == 0


def test_every_change_is_logged_as_json_with_its_actor(
    weir: WeirServer, start_upstream: StartUpstream
) -> None:
    register(weir, start_upstream, "a")

    weir.live("a", 3)

    def logged() -> dict[str, object]:
        records: list[dict[str, object]] = [
            json.loads(line)
            for line in weir.log_path.read_text().splitlines()
            if line.startswith("{")
        ]
        (change,) = [r for r in records if r.get("kind") == "activation_changed"]
        return change

    change = eventually(logged)
    assert change["actor"] == "local-admin"
    assert change["service"] == SERVICE and change["instance"] == "a"
    assert change["level"] == "info" and change["logger"] == "weir.ledger"
    assert change["message"] == f"#{change['seq']} by local-admin: a: inactive → live weight 3"
