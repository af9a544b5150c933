"""Bearer tokens for in-process apps (create_app(..., auth=StaticTokens())) without ledger
entries, so tests that count entries or read sequence numbers see only their own."""

from __future__ import annotations

from controlplane.api import Principal
from controlplane.model import Role

NAMES = ("operator", "alice", "bob", "ann")
"""Admins, each recorded as its own actor; "operator" is what a fixture's client sends."""


def secret_of(name: str) -> str:
    return f"weir_test-{name}"


def bearer(name: str = "operator") -> dict[str, str]:
    """Headers that make a request come from `name`."""
    return {"Authorization": f"Bearer {secret_of(name)}"}


class StaticTokens:
    def __init__(self, extra: dict[str, Role] | None = None) -> None:
        roles = {name: Role.ADMIN for name in NAMES} | (extra or {})
        self._by_secret = {secret_of(name): Principal(name, role) for name, role in roles.items()}

    def authenticate(self, secret: str) -> Principal | None:
        return self._by_secret.get(secret)
