"""The controller: the single write path from operators to the ledger."""

from controlplane.control._bulk import BatchPlan, Registration
from controlplane.control._controller import Controller, live_share
from controlplane.control._term import current_term, leading

__all__ = ["BatchPlan", "Controller", "Registration", "current_term", "leading", "live_share"]
