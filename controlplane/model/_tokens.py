"""Operators' API tokens as the ledger records them: a name, a role and the SHA-256 of the secret.

The secret itself is never recorded anywhere; only its digest, so every store and every replica
that folds the ledger knows the tokens without a table of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

TOKEN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9._@]*[a-z0-9])?$")

TokenName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=TOKEN_NAME.pattern,
        description="Who holds the token; recorded as the actor of every change made with it. "
        "Lower-case letters, digits and '-', '.', '_', '@', not at either end.",
    ),
]

RESERVED_NAMES = frozenset({"evaluator", "rollout", "serve"})
"""Actors weir itself writes as: no operator's token may pose as them in the ledger."""


class Role(StrEnum):
    """What a token may do; each role may do everything the roles before it may."""

    VIEWER = "viewer"
    """Read everything (but tokens)."""
    OPERATOR = "operator"
    """Register instances, change activations, start and steer rollouts."""
    ADMIN = "admin"
    """Apply services, create and revoke tokens."""

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenCreated(_Event):
    """A token was issued to `name` with `role`; the ledger keeps only its secret's digest."""

    kind: Literal["token_created"] = "token_created"
    name: TokenName
    role: Role
    sha256: Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]

    def describe(self) -> str:
        return f"token {self.name} created ({self.role.value})"


class TokenRevoked(_Event):
    """The token of `name` stops working at once, on every replica that folds this entry."""

    kind: Literal["token_revoked"] = "token_revoked"
    name: TokenName

    def describe(self) -> str:
        return f"token {self.name} revoked"


@dataclass(frozen=True, slots=True)
class TokenState:
    name: str
    role: Role
    sha256: str
    created_seq: int
