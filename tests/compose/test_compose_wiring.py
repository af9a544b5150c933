"""docker-compose.yml agrees with envoy/, deploy/ and `weir demo`: the front Envoy runs the
pinned bootstrap and finds the controller, Prometheus scrapes what exists, and the setup builds
the demo's service and instances."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from controlplane.cli._yaml import load_service_file
from controlplane.demo import ERROR_STATUS, INSTANCES, SERVICE_FILE
from controlplane.envoy_binary import find_envoy
from controlplane.model import ServiceSpec, split_address
from tests.compose._compose import (
    CONTROLLER,
    FRONT,
    PROMETHEUS,
    REPO,
    SETUP,
    Parsed,
    exposed,
    host_file,
    parse_weir,
    published,
    service,
    service_commands,
    services,
)

BOOTSTRAP = REPO / "envoy" / "compose-front-proxy.yaml"
HEADER = "# Envoy bootstrap made by `"


def _option(command: list[str], *names: str) -> str:
    """The value of `--name VALUE` or `--name=VALUE` in an argv."""
    for i, word in enumerate(command):
        for name in names:
            if word == name:
                return command[i + 1]
            if word.startswith(name + "="):
                return word.removeprefix(name + "=")
    raise AssertionError(f"none of {names} in {shlex.join(command)}")


def _serve() -> dict[str, Any]:
    (parsed,) = service_commands(CONTROLLER)
    return parsed.params


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _setup() -> list[Parsed]:
    return service_commands(SETUP)


def _front_bootstrap_path() -> Path | None:
    return host_file(FRONT, _option(service(FRONT)["command"], "-c", "--config-path"))


# The front Envoy.


def test_the_front_envoy_runs_the_pinned_compose_bootstrap() -> None:
    # tests/cli/test_bootstrap.py pins this file to the `weir bootstrap` command on its first
    # line, and has Envoy validate it.
    assert _front_bootstrap_path() == BOOTSTRAP
    assert BOOTSTRAP.read_text().startswith(HEADER + "weir bootstrap ")


def test_the_front_bootstrap_finds_the_controller_by_service_name_and_published_port() -> None:
    header = BOOTSTRAP.read_text().splitlines()[0]
    made_by = parse_weir(shlex.split(header.removeprefix(HEADER).removesuffix("`"))).params
    bootstrap: dict[str, Any] = yaml.safe_load(BOOTSTRAP.read_text())
    xds_port = _port(_serve()["xds"])

    assert made_by["xds"] == (f"{CONTROLLER}:{xds_port}",)  # --xds: once per replica
    assert xds_port in {port.container_port for port in published(CONTROLLER)}
    (cluster,) = bootstrap["static_resources"]["clusters"]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": CONTROLLER, "port_value": xds_port}
    assert cluster["type"] == "STRICT_DNS"  # Docker's DNS answers for the service name


def test_the_front_envoy_listens_on_every_interface_at_its_published_ports() -> None:
    bootstrap: dict[str, Any] = yaml.safe_load(BOOTSTRAP.read_text())
    listen = bootstrap["node"]["metadata"]["weir_listen"]
    admin = bootstrap["admin"]["address"]["socket_address"]

    assert bootstrap["node"]["id"] == FRONT
    assert split_address(listen)[0] == admin["address"] == "0.0.0.0"
    assert exposed(FRONT) == {_port(listen), admin["port_value"]}
    assert bootstrap["node"]["metadata"]["weir_admin"] == f"0.0.0.0:{admin['port_value']}"


def test_the_front_envoy_image_is_the_envoy_the_tests_validate_with() -> None:
    tag = service(FRONT)["image"].rpartition(":")[2]
    result = subprocess.run([find_envoy(), "--version"], capture_output=True, text=True, timeout=60)
    version = re.search(r"/(\d+\.\d+)\.\d+/", result.stdout)

    assert version, result.stdout + result.stderr
    assert tag.startswith(f"v{version[1]}."), f"{tag} is not Envoy {version[1]}"


# Prometheus.


def _prometheus_config() -> tuple[Path, dict[str, Any]]:
    path = host_file(PROMETHEUS, _option(service(PROMETHEUS)["command"], "--config.file"))
    assert path is not None and path.is_file(), "Prometheus' --config.file is not mounted"
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return path, config


def test_prometheus_scrapes_only_services_and_ports_in_the_file() -> None:
    _, config = _prometheus_config()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    assert jobs, "no scrape_configs"
    for name, job in jobs.items():
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, port = split_address(target)
                assert host in services(), f"job {name}: no service {host!r}"
                assert port in exposed(host), f"job {name}: {host} does not listen on {port}"


def test_prometheus_scrapes_envoys_admin_and_weirs_metrics() -> None:
    _, config = _prometheus_config()
    bootstrap: dict[str, Any] = yaml.safe_load(BOOTSTRAP.read_text())
    admin_port = bootstrap["admin"]["address"]["socket_address"]["port_value"]
    scraped = {
        (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }

    assert ("/stats/prometheus", f"{FRONT}:{admin_port}") in scraped
    assert ("/metrics", f"{CONTROLLER}:{_port(_serve()['api'])}") in scraped


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"  # Debian's prometheus package
    path, _ = _prometheus_config()

    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr


# The setup and the demo instances.


def test_the_service_file_is_the_one_weir_demo_applies() -> None:
    (applied,) = [parsed for parsed in _setup() if parsed.path == ("apply",)]
    path = Path(applied.params["service_file"].name)

    with path.open() as stream:
        spec = ServiceSpec.model_validate(load_service_file(stream, str(path)))

    demo = ServiceSpec.model_validate(load_service_file(io.StringIO(SERVICE_FILE), "demo"))
    assert path.is_relative_to(REPO / "deploy")
    assert spec == demo


def test_the_setup_registers_the_demos_instances_and_puts_v1_live() -> None:
    commands = _setup()
    added = [parsed.params for parsed in commands if parsed.path == ("instance", "add")]
    activated = [parsed.params for parsed in commands if parsed.path == ("instance", "activate")]
    service_name = ServiceSpec.model_validate(yaml.safe_load(SERVICE_FILE)).name

    assert [(p["instance_id"], p["version"]) for p in added] == [(i, v) for i, v, _ in INSTANCES]
    assert {p["service"] for p in added} == {service_name}
    v1 = [instance_id for instance_id, version, _ in INSTANCES if version == "v1"]
    assert [p["instance_id"] for p in activated] == v1
    assert all(p["live"] for p in activated)
    assert len({p["weight"] for p in activated}) == 1, "v1's instances share traffic equally"


def test_every_instance_address_is_a_demo_instance_service_failing_as_in_the_demo() -> None:
    added = [parsed.params for parsed in _setup() if parsed.path == ("instance", "add")]
    error_rates = {instance_id: rate for instance_id, _, rate in INSTANCES}

    for params in added:
        host, port = split_address(params["address"])
        assert host in services(), f"{params['instance_id']}: no service {host!r}"
        (served,) = service_commands(host)
        assert served.path == ("demo-instance",)
        assert served.params["instance_id"] == params["instance_id"]
        assert _port(served.params["listen"]) == port
        assert served.params["error_rate"] == error_rates[params["instance_id"]]
        if served.params["error_rate"]:
            assert served.params["error_status"] == ERROR_STATUS


def test_the_setup_waits_for_a_healthy_controller() -> None:
    assert service(SETUP)["depends_on"][CONTROLLER]["condition"] == "service_healthy"


def test_steady_traffic_goes_through_the_front_envoy_after_the_setup() -> None:
    bootstrap: dict[str, Any] = yaml.safe_load(BOOTSTRAP.read_text())
    listen_port = _port(bootstrap["node"]["metadata"]["weir_listen"])
    admin_port = bootstrap["admin"]["address"]["socket_address"]["port_value"]
    loads = [
        (name, parsed.params)
        for name in services()
        for parsed in service_commands(name)
        if parsed.path == ("loadtest",)
    ]

    assert loads, "nothing drives traffic, so a rollout would have nothing to judge"
    for name, params in loads:
        assert params["service"] == ServiceSpec.model_validate(yaml.safe_load(SERVICE_FILE)).name
        assert params["through"] == f"{FRONT}:{listen_port}"
        assert params["admin"] == f"{FRONT}:{admin_port}"
        depends = service(name)["depends_on"]
        assert depends[SETUP]["condition"] == "service_completed_successfully"
