"""The operator HTTP API under /v1: services, instances, activations, history and proxies."""

from controlplane.api._app import create_app
from controlplane.api._auth import Authenticator, LedgerTokens, Principal
from controlplane.api._limits import DEFAULT_MAX_BODY

__all__ = ["DEFAULT_MAX_BODY", "Authenticator", "LedgerTokens", "Principal", "create_app"]
