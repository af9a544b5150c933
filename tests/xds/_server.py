"""An in-process XdsServer on a free loopback port, for tests that speak gRPC to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from controlplane.control import Controller
from controlplane.xds import XdsServer


@asynccontextmanager
async def serving(plane: Controller, **options: Any) -> AsyncIterator[tuple[XdsServer, str]]:
    """The server and its host:port."""
    xds = XdsServer(plane, **options)
    port = await xds.start("127.0.0.1:0")
    try:
        yield xds, f"127.0.0.1:{port}"
    finally:
        await xds.stop(0)
