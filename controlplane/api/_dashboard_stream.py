"""/v1/dashboard/stream: everything the dashboard shows of one service, as server-sent events.

One request per open tab instead of a poll of several endpoints every second: the server
checks once a second what the page would show (the service list, its instances, its rollout,
budget, charts, history and the proxies) and sends a new `data:` event only when it changed,
a comment line every 15 s otherwise so that proxies keep the connection. The stream ends when
the caller's token is revoked (event `signed-out`) or after MAX_STREAM_S, when the page
reconnects. /v1/whoami says who the token belongs to, so the page shows actions to operators.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import StreamingResponse

from controlplane.api._actor import Caller
from controlplane.api._auth import Authenticator
from controlplane.api._dashboard_data import service_series, timeline
from controlplane.api._errors import refusals
from controlplane.api._evaluation import budget_view
from controlplane.api._fleet import proxy_views
from controlplane.api._instances import instance_views
from controlplane.api._rollouts import rollout_view
from controlplane.control import Controller, live_share
from controlplane.errors import WeirError
from controlplane.evaluator import Evaluator
from controlplane.model import ActivationState, Entry, State
from controlplane.rollout import RolloutDriver, progress
from controlplane.xds import ProxyRegistry

TICK_S = 1.0
KEEPALIVE_S = 15.0
MAX_STREAM_S = 3600.0
"""A stream ends after an hour; the page reconnects (a bounded life for every connection)."""
TIMELINE_LIMIT = 40
MAX_STREAMS = 256
"""Open dashboard streams per server; the next is refused with 503 until one closes."""
MAX_EVENTS = 10_000


class TooManyStreams(WeirError):
    status = 503


class WhoAmI(BaseModel):
    name: str
    role: str


class _ServiceEntries:
    """One service's ledger entries, read once and then only what was appended since."""

    def __init__(self, controller: Controller, service: str) -> None:
        self._controller = controller
        self._service = service
        self._seq = 0
        self.entries: list[Entry] = []

    def update(self) -> list[Entry]:
        if self._controller.state.seq != self._seq:
            new = self._controller.entries(after_seq=self._seq)
            if new:
                self._seq = new[-1].seq
            self.entries += [e for e in new if _service_of(e) == self._service]
        return self.entries


def _service_of(entry: Entry) -> str | None:
    event = entry.event
    spec = getattr(event, "spec", None)
    if spec is not None:
        return str(spec.name)
    instance = getattr(event, "instance", None)
    if instance is not None:
        return str(instance.service)
    return getattr(event, "service", None)


def choose(state: State, wanted: str | None) -> str | None:
    """The service asked for, else the first with a rollout in progress, else the first."""
    if wanted in state.services:
        return wanted
    rolling = sorted(r.service for r in state.rollouts.values() if r.active)
    for name in rolling:
        if name in state.services:
            return name
    return min(state.services, default=None)


def snapshot(
    state: State,
    service: str | None,
    entries: list[Entry],
    *,
    controller: Controller,
    registry: ProxyRegistry,
    evaluator: Evaluator | None,
    driver: RolloutDriver | None,
) -> dict[str, Any]:
    """What the page shows, as JSON; read on the event loop (evaluator, registry)."""
    page: dict[str, Any] = {
        "seq": state.seq,
        "services": [_service_card(state, name) for name in sorted(state.services)],
        "active": sorted(r.service for r in state.rollouts.values() if r.active),
        "service": service,
        "proxies": [p.model_dump(mode="json") for p in proxy_views(registry)],
    }
    if service is None:
        return page
    page["instances"] = [v.model_dump(mode="json") for v in instance_views(state, service)]
    rollout = state.active_rollout(service) or state.last_rollout(service)
    page["rollout"] = (
        rollout_view(state, rollout, entries, evaluator=evaluator, driver=driver).model_dump(
            mode="json"
        )
        if rollout is not None
        else {"missing": f"service {service!r} has had no rollout"}
    )
    no_stats = {"missing": "this weir server runs without an evaluator (no stats source)"}
    if evaluator is None:
        page["budget"] = page["series"] = no_stats
        open_verdicts = {}
    else:
        page["budget"] = budget_view(evaluator, service).model_dump(mode="json")
        page["series"] = service_series(state, service, evaluator).model_dump(mode="json")
        open_verdicts = {
            e.change_seq: e.verdict for e in evaluator.evaluations() if e.verdict is not None
        }
    page["timeline"] = [
        item.model_dump(mode="json")
        for item in timeline(state, entries, open_verdicts, TIMELINE_LIMIT)
    ]
    return page


def _service_card(state: State, name: str) -> dict[str, Any]:
    """What the service list shows of one service: its instances, the versions serving its
    live traffic and their shares, and its rollout in progress."""
    records = [r for r in state.instances_of(name) if r.state is not ActivationState.RETIRED]
    versions: dict[str, float] = {}
    for record in records:
        share = live_share(state, record.instance.id)
        if share > 0:
            versions[record.instance.version] = versions.get(record.instance.version, 0) + share
    rollout = state.active_rollout(name)
    running = None
    if rollout is not None:
        step, steps = progress(rollout)
        running = {
            "strategy": rollout.plan.strategy,
            "version": rollout.version,
            "step": step,
            "steps": steps,
        }
    return {
        "name": name,
        "slo": state.services[name].slo.model_dump(mode="json"),
        "instances": len(records),
        "versions": sorted(versions.items(), key=lambda item: -item[1]),
        "rollout": running,
    }


def _changing(page: dict[str, Any]) -> str:
    """The page without what moves every tick by itself (the clock in `now`), to compare."""
    series = page.get("series")
    if isinstance(series, dict) and "now" in series:
        page = {**page, "series": {k: v for k, v in series.items() if k != "now"}}
    return json.dumps(page, sort_keys=True, default=str)


def dashboard_stream_router(
    controller: Controller,
    registry: ProxyRegistry,
    evaluator: Evaluator | None,
    driver: RolloutDriver | None,
    auth: Authenticator,
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["dashboard"], responses=refusals(422))
    streams: set[object] = set()
    """The streams open now: at most MAX_STREAMS (each costs a check a second)."""

    @router.get("/whoami", summary="The holder of this token and its role")
    def whoami(caller: Caller) -> WhoAmI:
        return WhoAmI(name=caller.name, role=caller.role.value)

    @router.get(
        "/dashboard/stream",
        summary="Server-sent events: the dashboard's view of a service, sent when it changes",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **refusals(503)},
    )
    async def stream(
        request: Request,
        caller: Caller,
        service: Annotated[
            str | None, Query(max_length=63, description="the service shown; default: one")
        ] = None,
        events: Annotated[
            int | None,
            Query(ge=1, le=MAX_EVENTS, description="end after this many events (scripts)"),
        ] = None,
    ) -> StreamingResponse:
        if len(streams) >= MAX_STREAMS:
            raise TooManyStreams(
                f"{MAX_STREAMS} dashboard streams are open on this server already; close one "
                "(a tab) and reload"
            )
        secret = request.headers.get("authorization", "").partition(" ")[2].strip()

        async def frames() -> AsyncIterator[str]:
            token = object()
            streams.add(token)
            try:
                async for frame in _frames():
                    yield frame
            finally:
                streams.discard(token)

        async def _frames() -> AsyncIterator[str]:
            me = {"name": caller.name, "role": caller.role.value}
            sent = 0
            caches: dict[str, _ServiceEntries] = {}
            last = ""
            quiet_since = started = time.monotonic()
            while time.monotonic() - started < MAX_STREAM_S:
                if auth.authenticate(secret) is None:
                    yield "event: signed-out\ndata: {}\n\n"
                    return
                state = controller.state
                chosen = choose(state, service)
                entries: list[Entry] = []
                if chosen is not None:
                    cache = caches.setdefault(chosen, _ServiceEntries(controller, chosen))
                    entries = await asyncio.to_thread(cache.update)
                page = snapshot(
                    state, chosen, entries, controller=controller, registry=registry,
                    evaluator=evaluator, driver=driver,
                )  # fmt: skip
                page["me"] = me
                key = _changing(page)
                if key != last:
                    last = key
                    quiet_since = time.monotonic()
                    yield f"id: {state.seq}\ndata: {json.dumps(page, default=str)}\n\n"
                    sent += 1
                    if events is not None and sent >= events:
                        return
                elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield ": still here\n\n"
                await asyncio.sleep(TICK_S)

        return StreamingResponse(
            frames(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
