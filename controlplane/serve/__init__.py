"""`weir serve`: the ledger, the xDS server, the HTTP API, the evaluator and the rollout driver
in one process and one event loop.

    ServeConfig    every option of the server, with its default: the one value the CLI builds
                   from its flags and hands on (light: importing it loads no server)
    ControlPlane   the servers and loops on one store, started and stopped inside a loop
    serve          runs a ControlPlane until SIGINT or SIGTERM, as `weir serve` does

The servers (grpc, FastAPI, uvicorn) load when first named.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.serve._config import NOT_FLAGS, ServeConfig

if TYPE_CHECKING:
    from controlplane.serve._server import ControlPlane, Listening, exit_process, serve
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            "ControlPlane": "_server",
            "Listening": "_server",
            "exit_process": "_server",
            "serve": "_server",
        },
    )

__all__ = [
    "NOT_FLAGS",
    "ControlPlane",
    "Listening",
    "ServeConfig",
    "exit_process",
    "serve",
]
