"""The CLI against a real API server: weir's ControlPlane on free 127.0.0.1 ports, its event
loop in a background thread, and `weir` invoked in-process with click's CliRunner."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from click.testing import Result

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.serve import ControlPlane, ServeConfig
from tests.cli._run import invoke
from tests.support import StaticTokens, secret_of

T = TypeVar("T")
START_TIMEOUT_S = 10.0


class _LoopThread:
    """An event loop running in a daemon thread, for servers a synchronous test talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(START_TIMEOUT_S)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(START_TIMEOUT_S)
        self.loop.close()


@dataclass(frozen=True)
class Server:
    url: str
    controller: Controller

    def ledger_length(self) -> int:
        return len(self.controller.history())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A control plane serving the API (and xDS) over real sockets, with an empty ledger."""
    loop = _LoopThread()
    plane = ControlPlane(
        SqliteStore(tmp_path / "weir.db"), ServeConfig.on_free_ports(), auth=StaticTokens()
    )
    try:
        listening = loop.run(plane.start())
        yield Server(listening.api_url, plane.controller)
        loop.run(plane.stop(grace=0))
    finally:
        loop.close()


class Weir(Protocol):
    def __call__(self, *args: str, stdin: str | None = None) -> Result: ...


@pytest.fixture
def weir(server: Server) -> Weir:
    """`weir ARGS...` pointed at the fixture's server through WEIR_SERVER, as admin "operator"."""

    def run(*args: str, stdin: str | None = None) -> Result:
        env = {"WEIR_SERVER": server.url, "WEIR_TOKEN": secret_of("operator")}
        return invoke(*args, stdin=stdin, env=env)

    return run


def two_versions(weir: Weir, service_file: str, weight: int) -> None:
    """Service `web` from `service_file`: a (v1) live at `weight`, c (v2) registered and
    inactive -- the start of every CLI rollout test."""
    for args in [
        ("apply", "-f", "-"),
        ("instance", "add", "web", "--id", "a", "--version", "v1", "--address", "10.0.0.1:80"),
        ("instance", "add", "web", "--id", "c", "--version", "v2", "--address", "10.0.0.2:80"),
        ("instance", "activate", "a", "--live", "--weight", str(weight)),
    ]:
        result = weir(*args, stdin=service_file)
        assert result.exit_code == 0, result.output
