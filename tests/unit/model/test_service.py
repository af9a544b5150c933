"""ServiceSpec: the service file. Only `name` is required; every mistake names its field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from controlplane.model import RolloutDefaults, Route, RouteMatch, ServiceSpec, Strategy

# `on` quoted: PyYAML reads a bare `on` as YAML 1.1's True (the CLI's loader reads it as text).
DESIGN_EXAMPLE = """
name: checkout
domains: [checkout, checkout.internal]
routes:
  - match: {prefix: /api}
    timeout: 2s
    retries: {attempts: 2, "on": [5xx, reset]}
slo:
  success_rate: 99.9
  latency_p99_ms: 300
  window: 30d
risk:
  cost_per_failed_request: 0.05
  value_per_request: 0.002
rollout:
  strategy: canary
  steps: [1, 5, 25, 50, 100]
  bake: 60s
  auto_rollback: true
"""


def error_locs(document: dict[str, Any]) -> list[tuple[int | str, ...]]:
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.model_validate(document)
    return [e["loc"] for e in caught.value.errors()]


def test_the_service_file_from_the_design_reads_as_written() -> None:
    spec = ServiceSpec.model_validate(yaml.safe_load(DESIGN_EXAMPLE))
    assert spec.host_domains() == ("checkout", "checkout.internal")
    (route,) = spec.routes
    assert (route.match.prefix, route.timeout) == ("/api", 2.0)
    assert route.retries is not None and route.retries.on == ("5xx", "reset")
    assert spec.slo.window == 30 * 86400
    assert spec.rollout.strategy is Strategy.CANARY and spec.rollout.bake == 60


def test_only_the_name_is_required() -> None:
    spec = ServiceSpec(name="web")
    assert spec.host_domains() == ("web",)
    assert spec.effective_routes() == (Route(match=RouteMatch(prefix="/")),)
    assert spec.slo.success_rate == 99.9


def test_success_rate_above_100_names_success_rate() -> None:
    assert error_locs({"name": "web", "slo": {"success_rate": 140}}) == [("slo", "success_rate")]


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ({"name": "web", "colour": "blue"}, ("colour",)),
        ({"name": "web", "slo": {"succes_rate": 99}}, ("slo", "succes_rate")),
        ({"name": "web", "routes": [{"match": {"prefx": "/"}}]}, ("routes", 0, "match", "prefx")),
    ],
)
def test_an_unknown_field_is_refused_not_ignored(
    document: dict[str, Any], loc: tuple[int | str, ...]
) -> None:
    assert error_locs(document) == [loc]


@pytest.mark.parametrize("name", ["Web", "-web", "web-", "web.internal", "w_b", "", "a" * 64])
def test_a_name_is_a_dns_label(name: str) -> None:
    assert error_locs({"name": name}) == [("name",)]


@pytest.mark.parametrize("steps", [[1, 5, 100], [100], [0.5, 100]])
def test_steps_that_rise_to_100_are_accepted(steps: list[float]) -> None:
    assert RolloutDefaults(steps=tuple(steps)).steps == tuple(steps)


def test_unset_steps_are_weirs_defaults_fitted_when_a_rollout_starts() -> None:
    assert RolloutDefaults().steps is None


@pytest.mark.parametrize("steps", [[], [5, 1, 100], [1, 1, 100], [1, 5, 50], [0, 100], [50, 101]])
def test_steps_must_rise_strictly_to_100(steps: list[float]) -> None:
    assert error_locs({"name": "web", "rollout": {"steps": steps}})[0][:2] == ("rollout", "steps")


@pytest.mark.parametrize("domain", ["checkout.internal", "*.example.com", "api:8080", "a1"])
def test_a_domain_is_a_host_name(domain: str) -> None:
    assert domain in ServiceSpec(name="web", domains=(domain,)).host_domains()


def test_domains_are_kept_in_lower_case_as_envoy_compares_them() -> None:
    spec = ServiceSpec(name="web", domains=("Web.Internal", "WEB"))
    assert spec.host_domains() == ("web", "web.internal")


def test_domains_differing_only_in_case_are_one_domain_listed_twice() -> None:
    assert error_locs({"name": "web", "domains": ["x.y", "X.Y"]}) == [("domains",)]


@pytest.mark.parametrize("domains", [["bad domain"], ["-x"], [""], ["*"], ["a/b"], ["x.y", "x.y"]])
def test_a_bad_or_repeated_domain_is_refused(domains: list[str]) -> None:
    assert error_locs({"name": "web", "domains": domains}) == [("domains",)]


def test_the_service_name_is_always_its_first_domain_and_never_repeated() -> None:
    spec = ServiceSpec(name="web", domains=("web.internal", "web"))
    assert spec.host_domains() == ("web", "web.internal")


@pytest.mark.parametrize(
    ("route", "loc"),
    [
        ({"match": {"prefix": "/a", "path": "/b"}}, ("routes", 0, "match")),
        ({"match": {"prefix": "api"}}, ("routes", 0, "match")),
        ({"timeout": "2 days"}, ("routes", 0, "timeout")),
        ({"timeout": "2d"}, ("routes", 0, "timeout")),
        ({"retries": {"attempts": 11}}, ("routes", 0, "retries", "attempts")),
        ({"retries": {"attempts": 1, "on": ["sometimes"]}}, ("routes", 0, "retries", "on", 0)),
    ],
)
def test_a_bad_route_names_its_field(route: dict[str, Any], loc: tuple[int | str, ...]) -> None:
    assert error_locs({"name": "web", "routes": [route]}) == [loc]


def test_a_spec_is_frozen() -> None:
    spec = ServiceSpec(name="web")
    with pytest.raises(ValidationError):
        spec.name = "api"  # type: ignore[misc]
