"""What weir builds, Envoy accepts: resources from a state, checked by `envoy --mode validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from pydantic import ValidationError

from controlplane.errors import WeirError
from controlplane.model import Activation, ServiceApplied, ServiceSpec, State
from controlplane.resources import ROUTE_CONFIG_NAME, build_resources
from tests.support import envoy_validate, http_listener
from tests.unit._builders import change, commit, instance, service


def as_bootstrap(state: State) -> dict[str, Any]:
    """The state's clusters and route configuration, served statically by one listener."""
    resources = build_resources(state)

    def as_dict(message: Any) -> dict[str, Any]:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)

    route_config = as_dict(resources.routes[ROUTE_CONFIG_NAME].message)
    return {
        "static_resources": {
            "clusters": [as_dict(e.message) for e in resources.clusters.values()],
            "listeners": [http_listener("weir", {"route_config": route_config})],
        }
    }


def test_a_mesh_with_every_kind_of_instance_is_valid_envoy_config(tmp_path: Path) -> None:
    routes = (
        {"match": {"prefix": "/api", "headers": {"x-canary": "1"}}, "timeout": "2s"},
        {"match": {"path": "/health"}, "retries": {"attempts": 2, "per_try_timeout": "250ms"}},
    )
    state = commit(
        State(),
        service("web", domains=("web.internal", "*.web.example"), routes=routes),
        service("api"),
        instance("blue", address="127.0.0.1:9001"),
        instance("green", address="localhost:9002"),
        instance("dark", address="[::1]:9003"),
        instance("spare", address="127.0.0.1:9004"),
        instance("lone", "api", address="127.0.0.1:9005"),
    )
    state = commit(
        state,
        change(state, "blue", Activation.live(90)),
        change(state, "green", Activation.live(10)),
        change(state, "dark", Activation.shadow(0.5)),
    )
    assert envoy_validate(as_bootstrap(state), tmp_path) is None


# Service files Envoy would reject if weir passed them on: each must be refused when applied
# (or made acceptable, as a name repeated in another case is) — never left for a NACK that
# would break routing for every service on the proxy.

DOMAIN_TRAPS: dict[str, list[dict[str, Any]]] = {
    "a domain differing from another service's only in case": [
        {"name": "shop"},
        {"name": "store", "domains": ["Shop"]},
    ],
    "a service's own name repeated in upper case": [{"name": "shop", "domains": ["SHOP"]}],
    "a domain ending in a newline": [{"name": "shop", "domains": ["shop.internal\n"]}],
    "a header match with an empty name": [
        {"name": "shop", "routes": [{"match": {"headers": {"": "1"}}}]}
    ],
}


@pytest.mark.parametrize("files", DOMAIN_TRAPS.values(), ids=DOMAIN_TRAPS.keys())
def test_what_weir_accepts_envoy_accepts(files: list[dict[str, Any]], tmp_path: Path) -> None:
    try:
        events = [ServiceApplied(spec=ServiceSpec.model_validate(f)) for f in files]
        state = commit(State(), *events)
    except (ValidationError, WeirError):
        return  # refused when applied
    assert envoy_validate(as_bootstrap(state), tmp_path) is None
