"""Issuing tokens through the controller, so a token is one ledger entry like any policy edit."""

from __future__ import annotations

from controlplane.auth._secrets import digest, new_secret
from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.ledger import StaleSequence, Store
from controlplane.model import Entry, ProposedEntry, Role, TokenCreated

FIRST_ADMIN = "local-admin"
"""The name of the admin token `weir serve` issues on a ledger that has none."""
SERVE_ACTOR = "serve"
"""The actor of that first token's entry: weir itself, as no operator exists yet."""


def issue_token(
    controller: Controller, name: str, role: Role, *, actor: str, reason: str = ""
) -> tuple[Entry, str]:
    """Record a new token and return its entry and its secret, which nothing else keeps."""
    secret = new_secret()
    event = TokenCreated(name=name, role=role, sha256=digest(secret))
    entry = controller.submit([ProposedEntry(actor=actor, reason=reason, event=event)])[0]
    return entry, secret


def issue_first_admin(store: Store) -> str | None:
    """On a ledger without tokens, issue the admin token and return its secret; else None.

    Replicas starting together on one empty store race here: one appends, the others find
    the ledger moved on, re-read it, and see a token.
    """
    controller = Controller(store)
    if controller.state.tokens:
        return None
    try:
        _, secret = issue_token(
            controller,
            FIRST_ADMIN,
            Role.ADMIN,
            actor=SERVE_ACTOR,
            reason="the ledger held no token: first admin token for the local operator",
        )
    except (StaleSequence, Conflict):
        return None
    return secret
