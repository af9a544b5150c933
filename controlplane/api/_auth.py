"""Who is calling, and may they: bearer tokens checked before anything reads the request body.

Authentication is an ASGI middleware rather than a FastAPI dependency because FastAPI reads
and decodes the JSON body before it solves dependencies: a malformed body from a caller
without a token would get 422 (and cost a parse) instead of 401.

Everything under /v1/ needs a token. A route's role is its `x-weir-role` (see `requires`);
without one, reads need viewer and anything else admin, so a new endpoint is closed until
someone decides who may call it. Outside /v1/ (the dashboard's files, /healthz, /metrics, the
schema) nothing is secret and nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.api._errors import error_response
from controlplane.auth import find_token
from controlplane.control import Controller, acting_with
from controlplane.model import Role

GUARDED_PREFIX = "/v1/"
ROLE_KEY = "x-weir-role"
_READS = {"GET", "HEAD"}


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token: its name is the actor of what they change."""

    name: str
    role: Role
    sha256: str | None = None
    """The digest of the token's secret, when the token is a ledger entry: the controller
    checks it again when the request writes (control/_credential.py)."""


class Authenticator(Protocol):
    def authenticate(self, secret: str) -> Principal | None:
        """The holder of `secret`, or None for an unknown or revoked token."""
        ...


class LedgerTokens:
    """The tokens the ledger holds now: a revocation is in force from its entry on."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def authenticate(self, secret: str) -> Principal | None:
        token = find_token(self._controller.state.tokens.values(), secret)
        return None if token is None else Principal(token.name, token.role, token.sha256)


def requires(role: Role) -> dict[str, Any]:
    """`openapi_extra` for a route that needs `role`; the schema shows it too."""
    return {ROLE_KEY: role.value}


OPERATOR = requires(Role.OPERATOR)
ADMIN = requires(Role.ADMIN)


def required_role(routes: Sequence[APIRoute], scope: Scope) -> Role | None:
    """The role a request needs, or None for a public one. `routes` are the API's own, as
    their routers made them (FastAPI may wrap an included router in objects of its own)."""
    path: str = scope["path"]
    if not path.startswith(GUARDED_PREFIX):
        return None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            declared = (route.openapi_extra or {}).get(ROLE_KEY)
            if declared is not None:
                return Role(declared)
            return Role.VIEWER if scope["method"] in _READS else Role.ADMIN
    return Role.VIEWER  # unknown path or method: a 404 or 405, but only for token holders


class Authenticate:
    """Answers 401 (no or unknown token) or 403 (a role too weak) before the app runs; passes
    the caller on in `request.state.principal`."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[APIRoute], auth: Authenticator) -> None:
        self._app = app
        self._routes = tuple(routes)
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (needed := required_role(self._routes, scope)) is None:
            await self._app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            await _unauthorized(
                "this endpoint needs a token: send `Authorization: Bearer <token>` (the weir "
                "CLI reads WEIR_TOKEN, --token, or the token `weir serve` saved on this machine)"
            )(scope, receive, send)
            return
        principal = self._auth.authenticate(secret)
        if principal is None:
            await _unauthorized("the bearer token is unknown or revoked")(scope, receive, send)
            return
        if not principal.role.allows(needed):
            refusal = error_response(
                403,
                f"token {principal.name!r} has role {principal.role.value}; "
                f"{scope['method']} {scope['path']} needs {needed.value}",
            )
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        acting_with(principal.sha256)  # this request's task and the threads it hands work to
        await self._app(scope, receive, send)


def _unauthorized(message: str) -> ASGIApp:
    response = error_response(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="weir"'
    return response
