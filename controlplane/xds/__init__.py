"""The ADS server: state-of-the-world and incremental xDS to the Envoy fleet."""

from controlplane.xds._identity import identity_refusal, require_identity
from controlplane.xds._limits import XdsLimits
from controlplane.xds._registry import Connection, Nack, ProxyRegistry, ProxyStatus
from controlplane.xds._requests import close_requests
from controlplane.xds._server import XdsServer
from controlplane.xds._tls import XdsTls

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
