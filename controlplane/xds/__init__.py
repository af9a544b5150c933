"""The ADS server: state-of-the-world and incremental xDS to the Envoy fleet.

The protocol sessions (_sotw, _delta) and the proxy registry hold no I/O; the server, the
identity checks and TLS need grpc, so they load when first named.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.xds._limits import XdsLimits
from controlplane.xds._registry import Connection, Nack, ProxyRegistry, ProxyStatus
from controlplane.xds._requests import close_requests

if TYPE_CHECKING:
    from controlplane.xds._identity import identity_refusal, require_identity
    from controlplane.xds._server import XdsServer
    from controlplane.xds._tls import XdsTls
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            "XdsServer": "_server",
            "XdsTls": "_tls",
            "identity_refusal": "_identity",
            "require_identity": "_identity",
        },
    )

__all__ = [
    "Connection",
    "Nack",
    "ProxyRegistry",
    "ProxyStatus",
    "XdsLimits",
    "XdsServer",
    "XdsTls",
    "close_requests",
    "identity_refusal",
    "require_identity",
]
