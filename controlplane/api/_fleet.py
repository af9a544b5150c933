"""/v1/history and /v1/proxies: what changed, and what the Envoy fleet made of it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from controlplane.api._errors import refusals
from controlplane.api._schemas import ProxyView
from controlplane.control import Controller
from controlplane.model import Entry
from controlplane.xds import ProxyRegistry


def fleet_router(controller: Controller, registry: ProxyRegistry) -> APIRouter:
    router = APIRouter(prefix="/v1", responses=refusals(422))

    @router.get(
        "/history",
        tags=["history"],
        responses=refusals(404),
        summary="Ledger entries in order: every change, who made it and why",
    )
    def history(
        service: Annotated[str | None, Query(description="only this service's")] = None,
    ) -> list[Entry]:
        return controller.history(service)

    # async on purpose: the registry is written by the xDS streams on the event loop, so it
    # is read there too, never from the threadpool that runs the plain-def endpoints.
    @router.get("/proxies", tags=["proxies"], summary="Connected Envoys and what each ACKed")
    async def proxies() -> list[ProxyView]:
        return proxy_views(registry)

    return router


def proxy_views(registry: ProxyRegistry) -> list[ProxyView]:
    """Every connected proxy and whether it holds the current state (on the event loop)."""
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
