"""The FastAPI app, built by a function: no configuration or state at import time."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

import controlplane
from controlplane import defaults
from controlplane.api._actor import Authenticated
from controlplane.api._apply import apply_router
from controlplane.api._auth import Authenticate, Authenticator, LedgerTokens
from controlplane.api._dashboard_data import dashboard_data_router
from controlplane.api._dashboard_stream import dashboard_stream_router
from controlplane.api._docs import mount_docs
from controlplane.api._errors import install_error_handlers, refusals
from controlplane.api._evaluation import evaluation_router
from controlplane.api._fleet import fleet_router
from controlplane.api._instances import instances_router
from controlplane.api._limits import DEFAULT_MAX_BODY, BodyLimit
from controlplane.api._metrics import metrics_route
from controlplane.api._outcomes import outcomes_router
from controlplane.api._rollout_list import rollout_list_router
from controlplane.api._rollouts import rollouts_router
from controlplane.api._schemas import Health
from controlplane.api._services import services_router
from controlplane.api._tokens import tokens_router
from controlplane.control import Controller
from controlplane.dashboard import mount_dashboard
from controlplane.evaluator import Evaluator
from controlplane.outcomes._late import LateOutcomes
from controlplane.rollout import RolloutDriver
from controlplane.xds import ProxyRegistry

_GUARDED = refusals(400, 401, 403, 413, 422)
"""What any /v1/ endpoint may answer besides its own refusals."""


def create_app(
    controller: Controller,
    registry: ProxyRegistry,
    evaluator: Evaluator | None = None,
    rollouts: RolloutDriver | None = None,
    metrics: CollectorRegistry | None = None,
    *,
    auth: Authenticator | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    late: LateOutcomes | None = None,
    body_timeout_s: float = defaults.API_BODY_TIMEOUT_S,
) -> FastAPI:
    """The operator API over one controller and the proxy registry of its xDS server, and
    the web dashboard at `/`.

    `evaluator` and `rollouts` (the rollout driver), when this server runs them, add what
    they see to the status endpoints; the API works without them. `metrics` is the
    prometheus registry /metrics serves (the xDS server's, in `weir serve`).

    Every /v1/ endpoint needs a bearer token that `auth` knows (by default, the tokens the
    controller's ledger holds), with the role the endpoint names; a request body over
    `max_body` bytes is refused with 413. Both answers come before any body is parsed.

    Mutating endpoints are plain `def`: FastAPI runs them in its threadpool, and the
    controller is synchronous and thread-safe.
    """
    app = FastAPI(
        title="weir",
        version=controlplane.__version__,
        description="Operator API of weir, a service-mesh traffic controller for Envoy.",
        # Not FastAPI's /docs nor /redoc: their pages load scripts from a CDN, unpinned, in the
        # origin whose localStorage holds the dashboard's token. /docs is served from packaged
        # assets instead (api/_docs.py); the schema is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    auth = auth if auth is not None else LedgerTokens(controller)
    routers = (
        services_router(controller),
        apply_router(controller),
        instances_router(controller),
        fleet_router(controller, registry),
        evaluation_router(controller, evaluator),
        rollouts_router(controller, evaluator, rollouts),
        rollout_list_router(controller),
        dashboard_data_router(controller, evaluator),
        dashboard_stream_router(controller, registry, evaluator, rollouts, auth),
        tokens_router(controller),
        *((outcomes_router(controller, late),) if late is not None else ()),  # late outcomes
    )
    for router in routers:
        app.include_router(router, dependencies=[Authenticated], responses=_GUARDED)
    app.router.routes.append(metrics_route(controller, registry, metrics, evaluator))

    @app.get("/healthz", tags=["health"], summary="The API answers and the ledger is loaded")
    async def healthz() -> Health:
        return Health(ledger_seq=controller.state.seq)

    mount_docs(app)  # the API's reference, offline
    mount_dashboard(app)  # the web dashboard at /, a client of the endpoints above
    # The last added runs first: who is calling, then how much they send, then the app.
    app.add_middleware(BodyLimit, max_bytes=max_body, timeout_s=body_timeout_s)
    app.add_middleware(
        Authenticate,
        routes=[
            route for router in routers for route in router.routes if isinstance(route, APIRoute)
        ],
        auth=auth,
    )
    return app
