"""Resources are a pure function of state: same state, same bytes, same version."""

from __future__ import annotations

from pathlib import Path

from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec, State
from controlplane.resources import (
    LISTENER_NAME,
    ROUTE_CONFIG_NAME,
    ResourceBuilder,
    Resources,
    build_listener,
    build_resources,
)
from tests.unit._builders import commit, go_live, instance, service
from tests.unit.resources._world import mesh


def payloads(resources: Resources) -> dict[str, bytes]:
    return {n: e.payload for n, e in [*resources.clusters.items(), *resources.routes.items()]}


def test_the_same_state_builds_the_same_bytes_and_version() -> None:
    first, second = build_resources(mesh()), build_resources(mesh())
    assert payloads(first) == payloads(second)
    assert first.version == second.version


def test_a_different_state_builds_a_different_version() -> None:
    state = mesh()
    changed = go_live(state, "spare", 1)
    assert build_resources(changed).version != build_resources(state).version


def test_the_order_services_were_applied_in_does_not_matter() -> None:
    one = commit(State(), service("api"), service("web"))
    other = commit(State(), service("web"), service("api"))
    assert payloads(build_resources(one)) == payloads(build_resources(other))


def test_a_reopened_ledger_builds_the_same_resources(tmp_path: Path) -> None:
    # Given resources built from a controller's state
    store = SqliteStore(tmp_path / "weir.db")
    controller = Controller(store)
    controller.apply_service(
        ServiceSpec.model_validate({"name": "web", "routes": [{"timeout": "1.5s"}]}), actor="ops"
    )
    for n, instance_id in enumerate(["blue", "green", "dark"]):
        address = f"127.0.0.1:{9000 + n}"
        instance = Instance(id=instance_id, service="web", version="v1", address=address)
        controller.add_instance(instance, actor="ops")
    controller.change("blue", Activation.live(70), actor="ops")
    controller.change("green", Activation.live(30), actor="ops")
    controller.change("dark", Activation.shadow(2.5), actor="ops")
    before = build_resources(controller.state)
    store.close()

    # When the ledger is reopened and folded again
    reopened = SqliteStore(tmp_path / "weir.db")
    after = build_resources(Controller(reopened).state)
    reopened.close()

    # Then the resources are byte for byte the same
    assert payloads(after) == payloads(before)
    assert after.version == before.version


def test_the_listener_is_deterministic_and_asks_ads_for_the_routes() -> None:
    encoded = build_listener("127.0.0.1", 15001)
    assert encoded.payload == build_listener("127.0.0.1", 15001).payload
    assert encoded.version != build_listener("127.0.0.1", 15002).version

    listener = listener_pb2.Listener.FromString(encoded.payload)
    assert listener.name == LISTENER_NAME
    assert listener.address.socket_address.port_value == 15001
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    assert manager.rds.route_config_name == ROUTE_CONFIG_NAME
    assert manager.rds.config_source.HasField("ads")


def test_what_a_builder_remembers_never_changes_what_it_builds() -> None:
    # Given one builder that sees a series of states, each a small change from the last
    state = mesh()
    states = [state, go_live(state, "spare", 5)]
    states.append(commit(states[-1], service("web", domains=("web.example",))))
    states.append(commit(states[-1], service("shop"), instance("till", "shop")))
    states.append(go_live(states[-1], "till", 1))
    states.append(mesh())  # and back to where it started
    remembering = ResourceBuilder()
    for each in states:
        # Then each build is byte for byte what a builder seeing that state first gives
        fresh = ResourceBuilder()(each)
        built = remembering(each)
        assert payloads(built) == payloads(fresh)
        assert built.virtual_hosts == fresh.virtual_hosts
        assert built.version == fresh.version


def test_a_one_instance_change_re_encodes_only_its_service() -> None:
    builder = ResourceBuilder()
    before = builder(mesh())
    after = builder(go_live(mesh(), "spare", 5))
    # The other service's virtual host and the clusters are the very objects built before
    assert after.virtual_hosts["weir/api"] is before.virtual_hosts["weir/api"]
    assert after.clusters is before.clusters  # streams can skip comparing them
    assert after.virtual_hosts["weir/web"] is not before.virtual_hosts["weir/web"]
    # while a new instance makes a new set of clusters
    added = builder(commit(go_live(mesh(), "spare", 5), instance("extra")))
    assert added.clusters is not after.clusters and "web--extra" in added.clusters
