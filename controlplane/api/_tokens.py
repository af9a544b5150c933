"""/v1/tokens: issue, list and revoke operators' bearer tokens (admin only).

A token is a ledger entry holding its secret's SHA-256; the secret is in the answer to the
request that creates it and nowhere else.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from controlplane.api._actor import Actor
from controlplane.api._auth import ADMIN
from controlplane.api._errors import refusals
from controlplane.auth import issue_token
from controlplane.control import Controller
from controlplane.errors import NotFound
from controlplane.model import Entry, ProposedEntry, Role, TokenCreated, TokenName, TokenRevoked


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TokenName
    role: Role
    reason: str = Field(default="", max_length=1024)


class TokenView(BaseModel):
    """A token as anyone may see it: never its secret, nor its digest."""

    name: str
    role: Role
    created_at: datetime
    created_by: str
    seq: int = Field(description="The ledger entry that created it.")


class IssuedToken(TokenView):
    token: str = Field(description="The secret: shown in this answer only, kept nowhere.")


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1024)


def _view(entry: Entry) -> TokenView:
    assert isinstance(entry.event, TokenCreated)
    return TokenView(
        name=entry.event.name,
        role=entry.event.role,
        created_at=entry.at,
        created_by=entry.actor,
        seq=entry.seq,
    )


def tokens_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

    @router.post(
        "",
        status_code=201,
        responses=refusals(409),
        openapi_extra=ADMIN,
        summary="Issue a token; its secret is in this answer only",
    )
    def create_token(request: TokenRequest, actor: Actor) -> IssuedToken:
        entry, secret = issue_token(
            controller, request.name, request.role, actor=actor, reason=request.reason
        )
        return IssuedToken(**_view(entry).model_dump(), token=secret)

    @router.get("", openapi_extra=ADMIN, summary="Tokens in force: names, roles, when and by whom")
    def list_tokens() -> list[TokenView]:
        state = controller.state
        created = sorted(t.created_seq for t in state.tokens.values())
        entries = controller.read_entries(created)
        return sorted((_view(e) for e in entries), key=lambda view: view.name)

    @router.post(
        "/{name}/revoke",
        responses=refusals(404, 409),
        openapi_extra=ADMIN,
        summary="Revoke a token: it stops working at once",
    )
    def revoke_token(name: str, actor: Actor, request: RevokeRequest | None = None) -> Entry:
        if name not in controller.state.tokens:
            raise NotFound(f"no token named {name!r}", field="name")
        reason = request.reason if request is not None else ""
        event = TokenRevoked(name=name)
        return controller.submit([ProposedEntry(actor=actor, reason=reason, event=event)])[0]

    return router
