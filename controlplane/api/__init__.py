"""The operator HTTP API under /v1: services, instances, activations, history and proxies.

The API port's limits are plain values; the app (FastAPI) and the connection guard (uvicorn)
load when first named, so a server's configuration can name the limits cheaply.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.api._connection_limits import ApiLimits

if TYPE_CHECKING:
    from controlplane.api._app import create_app
    from controlplane.api._auth import Authenticator, LedgerTokens, Principal
    from controlplane.api._connections import guarded_protocol
    from controlplane.api._limits import DEFAULT_MAX_BODY
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            "create_app": "_app",
            "Authenticator": "_auth",
            "LedgerTokens": "_auth",
            "Principal": "_auth",
            "guarded_protocol": "_connections",
            "DEFAULT_MAX_BODY": "_limits",
        },
    )

__all__ = [
    "DEFAULT_MAX_BODY",
    "ApiLimits",
    "Authenticator",
    "LedgerTokens",
    "Principal",
    "create_app",
    "guarded_protocol",
]
