"""The Envoy processes tests run are the demo's: one implementation of both."""

from controlplane.demo._envoy import EnvoyError, EnvoyProcess, envoy_validate

__all__ = ["EnvoyError", "EnvoyProcess", "envoy_validate"]
