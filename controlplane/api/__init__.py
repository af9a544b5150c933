"""The operator HTTP API under /v1: services, instances, activations, history and proxies."""

from controlplane.api._app import create_app

__all__ = ["create_app"]
