"""Steady load for tests is the demo's: one implementation of both."""

from controlplane.demo._load import SteadyLoad

__all__ = ["SteadyLoad"]
