"""The operator HTTP API under /v1: services, instances, activations, history and proxies."""

from controlplane.api._app import create_app
from controlplane.api._auth import Authenticator, LedgerTokens, Principal
from controlplane.api._connections import ApiLimits, guarded_protocol
from controlplane.api._limits import DEFAULT_MAX_BODY

__all__ = [
    "DEFAULT_MAX_BODY",
    "ApiLimits",
    "Authenticator",
    "LedgerTokens",
    "Principal",
    "create_app",
    "guarded_protocol",
]
