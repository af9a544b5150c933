"""Token secrets: 256 random bits, known to the ledger only by their SHA-256.

A plain (unsalted, single-round) digest is enough here, unlike for passwords: the secret has
256 bits of entropy, so its digest cannot be reversed by guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from controlplane.model import TokenState

PREFIX = "weir_"
"""Marks a string as a weir token, for people and for secret scanners."""


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_token(tokens: Iterable[TokenState], secret: str) -> TokenState | None:
    """The token whose digest is the secret's, compared in constant time, or None."""
    presented = digest(secret)
    found = None
    for token in tokens:
        # No early exit either: the time taken says nothing about which token matched.
        if hmac.compare_digest(token.sha256, presented):
            found = token
    return found
