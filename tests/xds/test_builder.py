"""The xDS server builds with its controller's ResourceBuilder (no builder is the process's):
the push after an append re-encodes nothing the append's size check built."""

from __future__ import annotations

from controlplane.resources import build_resources
from controlplane.xds import XdsServer
from tests.support import until
from tests.xds._fixtures import add, controller


async def test_the_push_after_an_append_is_the_build_the_append_checked() -> None:
    # Given an xDS server serving a controller
    c = controller(("a", 1))
    server = XdsServer(c)
    await server.start("127.0.0.1:0")
    try:
        # When an instance is added (its size check builds the new state's resources)
        add(c, "b")
        wanted = build_resources(c.state).version
        cache = server._cache
        assert cache is not None
        await until(lambda: cache.snapshot.version == wanted, what="the push of the new state")
        # Then the published snapshot is that very build, not a second encoding of it
        assert cache.snapshot is c.builder(c.state)
    finally:
        await server.stop(0)
