"""/v1/history and /v1/proxies: what changed, and what the Envoy fleet made of it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Literal, Union, get_args

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from controlplane.api._actor import Caller
from controlplane.api._errors import refusals
from controlplane.api._schemas import ProxyView
from controlplane.control import Controller
from controlplane.model import Entry, Event, Role, TokenCreated
from controlplane.xds import ProxyRegistry


class TokenCreatedView(BaseModel):
    """A token's creation as the history shows it: its secret's digest to admins only."""

    kind: Literal["token_created"] = "token_created"
    name: str
    role: Role
    sha256: str | None = Field(
        default=None, description="the SHA-256 of the token's secret: shown to admins only"
    )


_EVENTS = tuple(e for e in get_args(get_args(Event)[0]) if e is not TokenCreated)
HistoryEvent = Annotated[
    Union[(*_EVENTS, TokenCreatedView)],  # type: ignore[valid-type]
    Field(discriminator="kind"),
]


class HistoryEntry(BaseModel):
    """A ledger entry as /v1/history shows it."""

    seq: int
    at: datetime
    actor: str
    reason: str
    event: HistoryEvent


def _shown(entry: Entry, role: Role) -> Entry:
    """The entry as a caller with `role` may see it: a token's digest to admins only (a
    viewer could otherwise test guessed secrets offline, or match tokens across ledgers)."""
    event = entry.event
    if isinstance(event, TokenCreated) and not role.allows(Role.ADMIN):
        view = TokenCreatedView(name=event.name, role=event.role)
        return entry.model_copy(update={"event": view})
    return entry


def fleet_router(controller: Controller, registry: ProxyRegistry) -> APIRouter:
    router = APIRouter(prefix="/v1", responses=refusals(422))

    @router.get(
        "/history",
        tags=["history"],
        responses=refusals(404),
        response_model=list[HistoryEntry],
        summary="Ledger entries in order: every change, who made it and why",
    )
    def history(
        caller: Caller,
        service: Annotated[str | None, Query(description="only this service's")] = None,
    ) -> list[Entry]:
        return [_shown(entry, caller.role) for entry in controller.history(service)]

    # async on purpose: the registry is written by the xDS streams on the event loop, so it
    # is read there too, never from the threadpool that runs the plain-def endpoints.
    @router.get("/proxies", tags=["proxies"], summary="Connected Envoys and what each ACKed")
    async def proxies() -> list[ProxyView]:
        now = datetime.now(UTC)
        current = registry.current_version
        return [
            ProxyView.model_validate(
                {
                    **{f.name: getattr(status, f.name) for f in fields(status)},
                    "current_version": current,
                    "in_sync": status.behind_since is None and status.synced_version == current,
                    "behind_seconds": (
                        None
                        if status.behind_since is None
                        else max((now - status.behind_since).total_seconds(), 0.0)
                    ),
                }
            )
            for status in registry.proxies()
        ]

    return router
