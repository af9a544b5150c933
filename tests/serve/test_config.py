"""`weir serve`'s flags and the ServeConfig they build cannot drift apart: with no flags the
config is ServeConfig's own defaults, every flag changes the config, and every field of the
config is changed by some flag or named in NOT_FLAGS with the reason."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controlplane.cli._serve import serve, server_options
from controlplane.serve import NOT_FLAGS, ServeConfig

ROOT = Path(__file__).resolve().parents[2]

COMMAND_OWN = {
    "store": "the command opens the store and hands the server the opened one",
    "xds_tls_cert": "read with the key and CA into xds_credentials before anything starts",
    "xds_tls_key": "read into xds_credentials",
    "xds_client_ca": "read into xds_credentials",
    "log_format": "the process's logging, configured by the command",
    "log_level": "the process's logging, configured by the command",
}
"""`weir serve`'s parameters that are not server options, and why."""

OTHER_THAN_DEFAULT = {
    "xds": ["--xds", "127.0.0.1:1"],
    "api": ["--api", "127.0.0.1:2"],
    "compare": ["--compare", "off"],
    "compare_address": ["--compare-address", "127.0.0.1:3"],
    "compare_concurrency": ["--compare-concurrency", "7"],
    "compare_rate": ["--compare-rate", "7"],
    "compare_max_body": ["--compare-max-body", "7"],
    "stats": ["--stats", "pull"],
    "prometheus_url": ["--prometheus", "http://127.0.0.1:9090"],
    "webhooks": ["--webhook", "http://127.0.0.1:9/hook"],
    "coalesce_ms": ["--coalesce-ms", "7"],
    "xds_streams_per_peer": ["--xds-streams-per-peer", "7"],
    "xds_streams_per_proxy": ["--xds-streams-per-proxy", "7"],
    "api_max_connections": ["--api-max-connections", "7"],
    "api_header_timeout": ["--api-header-timeout", "7"],
    "stats_max_rps": ["--stats-max-rps", "7"],
    "max_body": ["--max-request-body", "7"],
}
"""For each server flag, by parameter name, arguments that set it to other than its default."""


def config_of(*args: str) -> ServeConfig:
    """The ServeConfig `weir serve ARGS` would run with, its arguments parsed as click does."""
    context = serve.make_context("serve", list(args))
    return server_options(context.params)


def changed_fields(config: ServeConfig) -> set[str]:
    default = ServeConfig()
    return {
        f.name
        for f in dataclasses.fields(ServeConfig)
        if getattr(config, f.name) != getattr(default, f.name)
    }


def test_no_flags_run_the_configs_defaults() -> None:
    assert config_of() == ServeConfig()


def test_every_parameter_of_serve_is_an_option_or_said_why_not() -> None:
    parameters = {param.name for param in serve.params}
    assert parameters - COMMAND_OWN.keys() == OTHER_THAN_DEFAULT.keys()


@pytest.mark.parametrize("name", sorted(OTHER_THAN_DEFAULT))
def test_each_flag_reaches_the_config(name: str) -> None:
    assert changed_fields(config_of(*OTHER_THAN_DEFAULT[name])) != set(), (
        f"weir serve's {name} changes nothing in the ServeConfig it runs with"
    )


def test_every_field_is_reached_by_a_flag_or_said_why_not() -> None:
    every_flag: list[Any] = [arg for args in OTHER_THAN_DEFAULT.values() for arg in args]
    fields = {f.name for f in dataclasses.fields(ServeConfig)}
    unreached = fields - changed_fields(config_of(*every_flag))
    assert unreached == NOT_FLAGS.keys(), (
        "ServeConfig fields no weir serve flag sets: give each a flag, or say why not in "
        "controlplane/serve/_config.py's NOT_FLAGS"
    )


def test_a_config_on_free_ports_runs_no_comparator_and_keeps_the_rest() -> None:
    config = ServeConfig.on_free_ports(stats="off")
    assert (config.xds, config.api, config.compare) == ("127.0.0.1:0", "127.0.0.1:0", None)
    assert changed_fields(config) == {"xds", "api", "compare", "stats"}


def test_building_the_config_loads_no_server() -> None:
    """`weir serve` builds its config before it imports the servers: so does a program that
    only wants to read or check one."""
    servers = ("grpc", "fastapi", "uvicorn", "aiohttp", "psycopg")
    probe = (
        "import json, sys\n"
        "from controlplane.cli._serve import serve, server_options\n"
        "server_options(serve.make_context('serve', []).params)\n"
        f"print(json.dumps([m for m in {servers!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
