"""`weir bootstrap` and envoy/*.yaml: complete bootstraps the real Envoy accepts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.bootstrap import render_bootstrap
from controlplane.envoy_binary import find_envoy
from controlplane.errors import InvalidInput
from tests.cli._run import invoke

ENVOY_DIR = Path(__file__).resolve().parents[2] / "envoy"


def envoy_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_envoy(), "--mode", "validate", "-c", str(path), "-l", "warning"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
@pytest.mark.parametrize("xds", ["127.0.0.1:18000", "weir.internal:18000", "[::1]:18000"])
def test_envoy_accepts_the_bootstrap(tmp_path: Path, delta: bool, xds: str) -> None:
    args = ["bootstrap", "--node-id", "web-1", "--cluster", "web", "--xds", xds]
    result = invoke(*args, *(["--delta"] if delta else []))
    assert result.exit_code == 0, result.output
    path = tmp_path / "bootstrap.yaml"
    path.write_text(result.stdout)

    validated = envoy_validate(path)

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "OK" in validated.stdout


def test_the_bootstrap_says_what_the_controller_needs() -> None:
    bootstrap = render_bootstrap(
        "front-1", "front", xds="weir:18000", listen="0.0.0.0:10000", delta=True
    )

    assert bootstrap["node"] == {
        "id": "front-1",
        "cluster": "front",
        "metadata": {"weir_listen": "0.0.0.0:10000", "weir_admin": "127.0.0.1:9901"},
    }
    ads = bootstrap["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == "DELTA_GRPC"
    assert ads["transport_api_version"] == "V3"
    assert ads["set_node_on_first_message_only"] is True
    assert ads["grpc_services"] == [{"envoy_grpc": {"cluster_name": "weir_xds"}}]
    for source in ("cds_config", "lds_config"):
        assert bootstrap["dynamic_resources"][source] == {"ads": {}, "resource_api_version": "V3"}
    (cluster,) = bootstrap["static_resources"]["clusters"]
    assert cluster["type"] == "STRICT_DNS"  # a host name, not an IP
    assert cluster["connect_timeout"] == "1s"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "weir", "port_value": 18000}
    options = cluster["typed_extension_protocol_options"]
    http = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in http["explicit_http_config"]
    assert "tcp_keepalive" in cluster["upstream_connection_options"]
    assert bootstrap["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9901,
    }


def test_an_ip_controller_is_a_static_cluster() -> None:
    bootstrap = render_bootstrap("a", "b", xds="10.0.0.7:18000")

    assert bootstrap["static_resources"]["clusters"][0]["type"] == "STATIC"
    assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "GRPC"


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--xds", "weir", "'weir' is not host:port"),
        ("--listen", "127.0.0.1:99999", "port 99999 in '127.0.0.1:99999' is not between"),
        ("--admin", "::1:9901", "an IPv6 host must be in brackets"),
    ],
)
def test_a_bad_address_is_a_usage_error_naming_the_flag(flag: str, value: str, words: str) -> None:
    result = invoke("bootstrap", "--node-id", "a", "--cluster", "b", flag, value)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"weir: Invalid value for '{flag}'")
    assert words in result.stderr


def test_render_bootstrap_refuses_bad_input_by_field() -> None:
    with pytest.raises(InvalidInput, match="--xds: 'weir' is not host:port") as refused:
        render_bootstrap("a", "b", xds="weir")
    assert refused.value.field == "xds"
    with pytest.raises(InvalidInput, match="--node-id must be a non-empty name"):
        render_bootstrap("a b", "c", xds="127.0.0.1:18000")


@pytest.mark.parametrize("name", ["sidecar.yaml", "front-proxy.yaml", "compose-front-proxy.yaml"])
def test_the_shipped_bootstraps_are_what_their_command_prints(name: str) -> None:
    path = ENVOY_DIR / name
    text = path.read_text()
    command = text.splitlines()[0].removeprefix("# Envoy bootstrap made by `").removesuffix("`")

    result = invoke(*shlex.split(command)[1:])

    assert result.exit_code == 0, result.output
    assert result.stdout == text, f"regenerate envoy/{name} with: {command}"


@pytest.mark.parametrize(
    ("name", "node", "listen", "admin", "xds"),
    [
        ("sidecar.yaml", "sidecar", "127.0.0.1:15001", 9901, "127.0.0.1"),
        ("front-proxy.yaml", "front", "0.0.0.0:10000", 9902, "127.0.0.1"),
        # docker-compose.yml's: the controller is the `weir` service.
        ("compose-front-proxy.yaml", "front", "0.0.0.0:10000", 9901, "weir"),
    ],
)
def test_the_shipped_bootstraps_point_at_their_controller(
    name: str, node: str, listen: str, admin: int, xds: str
) -> None:
    path = ENVOY_DIR / name
    bootstrap: dict[str, Any] = yaml.safe_load(path.read_text())

    assert bootstrap["node"]["cluster"] == node
    assert bootstrap["node"]["metadata"]["weir_listen"] == listen
    assert bootstrap["admin"]["address"]["socket_address"]["port_value"] == admin
    cluster = bootstrap["static_resources"]["clusters"][0]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": xds, "port_value": 18000}
    validated = envoy_validate(path)
    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.mark.parametrize(
    "replicas",
    [["127.0.0.1:18000", "127.0.0.1:18001"], ["weir-a:18000", "10.0.0.8:18000", "[::1]:18002"]],
    ids=["ips", "mixed"],
)
def test_envoy_accepts_a_bootstrap_naming_every_replica(
    tmp_path: Path, replicas: list[str]
) -> None:
    args = ["bootstrap", "--node-id", "web-1", "--cluster", "web"]
    result = invoke(*args, *(word for address in replicas for word in ("--xds", address)))
    assert result.exit_code == 0, result.output
    path = tmp_path / "bootstrap.yaml"
    path.write_text(result.stdout)

    validated = envoy_validate(path)

    assert validated.returncode == 0, validated.stdout + validated.stderr
    (cluster,) = yaml.safe_load(result.stdout)["static_resources"]["clusters"]
    endpoints = cluster["load_assignment"]["endpoints"]
    assert [e["priority"] for e in endpoints] == list(range(len(replicas)))  # order of preference
    dialled = [e["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] for e in endpoints]
    assert [f"{a['address']}:{a['port_value']}" for a in dialled] == [
        r.replace("[", "").replace("]", "") for r in replicas
    ]
    (check,) = cluster["health_checks"]
    assert check["no_traffic_interval"] == check["interval"] == "0.5s"
    # The header remakes it.
    command = result.stdout.splitlines()[0].removeprefix("# Envoy bootstrap made by `")
    assert invoke(*shlex.split(command.removesuffix("`"))[1:]).stdout == result.stdout


def test_one_xds_address_has_no_priorities_nor_health_checks() -> None:
    bootstrap = render_bootstrap("a", "b", xds=["127.0.0.1:18000"])
    (cluster,) = bootstrap["static_resources"]["clusters"]

    assert "health_checks" not in cluster
    assert "priority" not in cluster["load_assignment"]["endpoints"][0]
    assert render_bootstrap("a", "b", xds=["127.0.0.1:18000"]) == render_bootstrap(
        "a", "b", xds="127.0.0.1:18000"
    )


@pytest.mark.parametrize(
    ("addresses", "words"),
    [
        (["127.0.0.1:18000", "127.0.0.1:18000"], "--xds names a replica twice"),
        (["127.0.0.1:18000", "weir"], "'weir' is not host:port"),
    ],
)
def test_bad_replica_addresses_are_a_usage_error(addresses: list[str], words: str) -> None:
    args = [word for address in addresses for word in ("--xds", address)]
    result = invoke("bootstrap", "--node-id", "a", "--cluster", "b", *args)

    assert result.exit_code == 2
    assert words in result.stderr
    assert "Traceback" not in result.output


def test_calls_scopes_the_proxy_in_its_node_metadata(tmp_path: Path) -> None:
    result = invoke("bootstrap", "--node-id", "c-1", "--cluster", "checkout", "--calls", "cart,pay")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Envoy bootstrap made by `weir bootstrap --node-id c-1 ")
    assert "--calls cart,pay`" in result.stdout.splitlines()[0]
    bootstrap = yaml.safe_load(result.stdout)
    assert bootstrap["node"]["metadata"]["weir_calls"] == ["cart", "pay"]
    path = tmp_path / "bootstrap.yaml"
    path.write_text(result.stdout)
    assert envoy_validate(path).returncode == 0
    unscoped = invoke("bootstrap", "--node-id", "c-1", "--cluster", "checkout")
    assert "weir_calls" not in unscoped.stdout  # no --calls: served every service


@pytest.mark.parametrize(
    ("calls", "words"),
    [
        ("cart,Pay!", "'Pay!' is not a service name"),
        (",".join(f"s{n}" for n in range(600)), "names 600 services, more than the 512"),
    ],
)
def test_bad_calls_are_a_usage_error(calls: str, words: str) -> None:
    result = invoke("bootstrap", "--node-id", "c-1", "--cluster", "checkout", "--calls", calls)
    assert result.exit_code == 2
    assert words in result.stderr
