"""PLACEHOLDER — being written; interface fixed:

class XdsServer:
    def __init__(self, controller: Controller, *, registry: ProxyRegistry | None = None) -> None
    registry: ProxyRegistry
    async def start(self, address: str) -> int   # "127.0.0.1:18000" -> the bound port (0 = any)
    async def stop(self, grace: float = 1.0) -> None
"""

from __future__ import annotations

from controlplane.control import Controller
from controlplane.xds._registry import ProxyRegistry


class XdsServer:
    def __init__(self, controller: Controller, *, registry: ProxyRegistry | None = None) -> None:
        self.controller = controller
        self.registry = registry or ProxyRegistry()

    async def start(self, address: str) -> int:
        raise NotImplementedError

    async def stop(self, grace: float = 1.0) -> None:
        raise NotImplementedError
