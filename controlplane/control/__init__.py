"""The controller: the single write path from operators to the ledger."""

from controlplane.control._bulk import BatchPlan, Registration
from controlplane.control._controller import BudgetGate, Controller, live_share
from controlplane.control._credential import acting_with, current_credential
from controlplane.control._term import current_term, leading

__all__ = [
    "BatchPlan",
    "BudgetGate",
    "Controller",
    "Registration",
    "acting_with",
    "current_credential",
    "current_term",
    "leading",
    "live_share",
]
