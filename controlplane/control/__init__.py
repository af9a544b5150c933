"""The controller: the single write path from operators to the ledger."""

from controlplane.control._controller import Controller, live_share

__all__ = ["Controller", "live_share"]
