"""Fixtures shared by every test directory: real Envoys and upstreams that clean up after
themselves. When a test fails, its report ends with the tail of each Envoy's log."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support import EnvoyProcess, Upstream
from tests.support._postgres import PostgresServer

StartEnvoy = Callable[[Mapping[str, Any] | str], EnvoyProcess]
StartUpstream = Callable[[str], Upstream]

_ENVOYS = pytest.StashKey[list[EnvoyProcess]]()


@pytest.fixture(autouse=True)
def _own_config_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test's own $XDG_CONFIG_HOME: the admin token a `weir serve` it starts saves there
    is where that test's `weir` CLI finds it, and the user's own config is never touched."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def start_envoy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartEnvoy]:
    """start_envoy(bootstrap) -> a running EnvoyProcess, stopped after the test."""
    started = request.node.stash.setdefault(_ENVOYS, [])

    def start(bootstrap: Mapping[str, Any] | str) -> EnvoyProcess:
        envoy = EnvoyProcess(bootstrap, tmp_path, name=f"envoy{len(started)}")
        started.append(envoy)
        return envoy.start()

    yield start
    for envoy in started:
        envoy.stop()


@pytest.fixture
def start_upstream() -> Iterator[StartUpstream]:
    """start_upstream(instance_id) -> a running Upstream, stopped after the test."""
    started: list[Upstream] = []

    def start(instance_id: str) -> Upstream:
        upstream = Upstream(instance_id).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session, started on first use; `fresh_database()`
    gives each test its own database."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        for envoy in item.stash.get(_ENVOYS, []):
            report.sections.append((f"{envoy.name} log", envoy.log_tail()))
    return report
