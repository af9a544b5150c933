"""Who made a change: the name of the token the request came with (see _auth)."""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.api._auth import Principal
from controlplane.errors import WeirError

bearer = HTTPBearer(
    auto_error=False,
    description="A weir token (`weir token create NAME --role viewer|operator|admin`).",
)
"""Declares the bearer scheme in the OpenAPI schema; the Authenticate middleware enforces it."""


class _Unauthenticated(WeirError):
    status = 401


def _principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        # Only if the app was built without the Authenticate middleware: refuse, never guess.
        raise _Unauthenticated("this endpoint needs a token")
    return principal


Caller = Annotated[Principal, Depends(_principal)]
"""An endpoint parameter of this type receives the authenticated caller."""


def _actor(caller: Caller) -> str:
    return caller.name


Actor = Annotated[str, Depends(_actor)]
"""An endpoint parameter of this type receives the actor of the request: its token's name."""

Authenticated = Depends(_principal)
"""For a router's `dependencies`: documents the bearer scheme on each of its operations."""
