"""docker-compose.yml, checked without a Docker engine: every image, mount, port and `weir`
command in it exists and means what the file says."""

from __future__ import annotations

import shlex

import pytest

from controlplane import defaults
from controlplane.model import split_address
from tests.compose._compose import (
    CONTROLLER,
    FRONT,
    PROMETHEUS,
    REPO,
    Parsed,
    compose,
    exposed,
    mounts,
    parse_weir,
    published,
    service,
    service_commands,
    services,
    weir_commands,
)

WEIR_IMAGE_SERVICES = sorted(name for name, spec in services().items() if "build" in spec)
COMMANDS = [(name, words) for name in WEIR_IMAGE_SERVICES for words in weir_commands(name)]


def _serve() -> Parsed:
    (parsed,) = service_commands(CONTROLLER)
    assert parsed.path == ("serve",)
    return parsed


def test_the_file_holds_the_controller_an_envoy_prometheus_and_weir_image_services() -> None:
    assert {CONTROLLER, FRONT, PROMETHEUS} <= set(services())
    assert CONTROLLER in WEIR_IMAGE_SERVICES
    assert "version" not in compose(), "`version` is obsolete in Compose v2 and only warns"


@pytest.mark.parametrize("name", sorted(services()))
def test_every_service_has_a_pinned_image_or_a_build_whose_dockerfile_exists(name: str) -> None:
    spec = service(name)

    assert "build" in spec or "image" in spec
    if "build" in spec:
        build = spec["build"] if isinstance(spec["build"], dict) else {"context": spec["build"]}
        context = (REPO / build["context"]).resolve()
        assert context.is_dir(), f"{name}: no build context {context}"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file()
    else:
        repository, _, tag = spec["image"].rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: pin {spec['image']!r} to a tag"


def test_the_weir_image_services_share_one_image_built_here() -> None:
    images = {service(name).get("image") for name in WEIR_IMAGE_SERVICES}

    assert len(images) == 1, f"one tag for the one image, not {images}"


@pytest.mark.parametrize("name", sorted(services()))
def test_every_mounted_host_path_exists_in_the_repo(name: str) -> None:
    declared = set(compose().get("volumes") or {})
    for mount in mounts(name):
        if mount.is_bind:
            assert mount.host_path.exists(), f"{name} mounts {mount.source}, which is missing"
            assert mount.host_path.is_relative_to(REPO), f"{name}: {mount.source} is not ours"
            assert mount.read_only, f"{name}: mount {mount.source} read-only (:ro)"
        else:
            assert mount.source in declared, f"{name}: volume {mount.source!r} is not declared"


@pytest.mark.parametrize("name", WEIR_IMAGE_SERVICES)
def test_every_weir_image_service_runs_weir(name: str) -> None:
    assert weir_commands(name), f"{name} is built from the weir image but runs no weir command"


@pytest.mark.parametrize(
    ("name", "words"), COMMANDS, ids=[f"{n}: {shlex.join(w[1:3])}" for n, w in COMMANDS]
)
def test_every_weir_command_parses_with_the_cli(name: str, words: list[str]) -> None:
    # Options are converted and checked (a renamed flag or a bad host:port fails here), and a
    # file an option opens is the repo file the service mounts at that path.
    parsed = parse_weir(words, service_name=name)

    assert parsed.path


def test_the_ports_published_are_weirs_and_envoys_defaults_on_loopback() -> None:
    expected = {
        CONTROLLER: {split_address(defaults.API)[1], split_address(defaults.XDS)[1]},
        FRONT: {10000, split_address(defaults.ENVOY_ADMIN)[1]},
        PROMETHEUS: {9090},
    }
    seen: list[int] = []
    for name in services():
        for port in published(name):
            # As weir's own defaults: the API takes changes from whoever reaches it.
            assert port.host_ip == "127.0.0.1", f"{name}: publish {port} on 127.0.0.1 only"
            assert port.host_port == port.container_port
            seen.append(port.host_port)
        assert {port.host_port for port in published(name)} == expected.get(name, set()), name
    assert len(seen) == len(set(seen)), f"a host port is published twice: {sorted(seen)}"


def test_the_controller_listens_on_every_interface_at_the_published_ports() -> None:
    serve = _serve().params

    xds_host, xds_port = serve["xds"].rsplit(":", 1)
    api_host, api_port = serve["api"].rsplit(":", 1)
    assert (xds_host, api_host) == ("0.0.0.0", "0.0.0.0")
    assert {int(xds_port), int(api_port)} == exposed(CONTROLLER)


def test_the_ledger_is_kept_in_a_volume() -> None:
    store = _serve().params["store"]

    (volume,) = [m for m in mounts(CONTROLLER) if not m.is_bind]
    assert store.startswith(volume.target.rstrip("/") + "/")


def test_the_controller_is_healthy_when_its_api_answers() -> None:
    api_port = _serve().params["api"].rsplit(":", 1)[1]
    check = " ".join(service(CONTROLLER)["healthcheck"]["test"])

    assert f"http://127.0.0.1:{api_port}/healthz" in check


@pytest.mark.parametrize(
    ("name", "words"), COMMANDS, ids=[f"{n}: {shlex.join(w[1:3])}" for n, w in COMMANDS]
)
def test_client_commands_reach_the_controller_by_its_service_name(
    name: str, words: list[str]
) -> None:
    if parse_weir(words, service_name=name).path in {("serve",), ("demo-instance",)}:
        return  # servers, not clients of the API
    api_port = _serve().params["api"].rsplit(":", 1)[1]

    assert service(name)["environment"]["WEIR_SERVER"] == f"http://{CONTROLLER}:{api_port}"


@pytest.mark.parametrize("name", WEIR_IMAGE_SERVICES)
def test_a_demo_instance_listens_on_every_interface_at_its_exposed_port(name: str) -> None:
    for parsed in service_commands(name):
        if parsed.path == ("demo-instance",):
            host, port = parsed.params["listen"].rsplit(":", 1)
            assert host == "0.0.0.0"
            assert exposed(name) == {int(port)}
