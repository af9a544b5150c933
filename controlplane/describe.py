"""Words for what the ledger records, from its JSON form: one text for the models and the CLI.

Standard library only, like controlplane.units: the CLI describes the API's answers without
loading the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ARROW = "→"
"""Between an instance's activation before and after a change, wherever one is shown."""


def move_text(before: str, after: str) -> str:
    """`inactive → live weight 25`: a change of activation, from both sides in words."""
    return f"{before} {ARROW} {after}"


def change_text(event: Mapping[str, Any]) -> str:
    """A ledger's `activation_changed` event, from its JSON form, as `move_text` words it."""
    return move_text(activation_text(event["before"]), activation_text(event["after"]))


def activation_text(activation: Mapping[str, Any]) -> str:
    """`live weight 90`, `shadow 10%`, `inactive`, `retired`."""
    state = activation["state"]
    if state == "live":
        return f"live weight {activation['weight']}"
    if state == "shadow":
        return f"shadow {activation['mirror_percent']:g}%"
    return str(state)
