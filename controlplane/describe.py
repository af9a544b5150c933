"""Words for what the ledger records, from its JSON form: one text for the models and the CLI.

Standard library only, like controlplane.units: the CLI describes the API's answers without
loading the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def activation_text(activation: Mapping[str, Any]) -> str:
    """`live weight 90`, `shadow 10%`, `inactive`, `retired`."""
    state = activation["state"]
    if state == "live":
        return f"live weight {activation['weight']}"
    if state == "shadow":
        return f"shadow {activation['mirror_percent']:g}%"
    return str(state)
