"""The token a write is made with, checked against the ledger in the write itself.

The API authenticates a request when it arrives, against the tokens its replica has folded so
far. A token revoked meanwhile -- through another replica, or while the request waited -- must
still not write. So the API hands the token's digest down with the request (`acting_with`),
and the controller checks it against the state it appends on, under its lock: the store
appends only on top of that very state (`after_seq`), inside the transaction that holds the
ledger's lock, so the check holds at the moment of the write, on every replica. Writes weir
makes itself (evaluator, rollouts) carry none.
"""

from __future__ import annotations

from contextvars import ContextVar

_CREDENTIAL: ContextVar[str | None] = ContextVar("weir_credential", default=None)


def acting_with(sha256: str | None) -> None:
    """From now on, in this task (and the threads it hands work to), writes are made with the
    token whose secret has this digest (None: no token, weir's own writes)."""
    _CREDENTIAL.set(sha256)


def current_credential() -> str | None:
    return _CREDENTIAL.get()
