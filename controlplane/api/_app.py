"""The FastAPI app, built by a function: no configuration or state at import time."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import controlplane
from controlplane.api._dashboard_data import dashboard_data_router
from controlplane.api._errors import install_error_handlers
from controlplane.api._evaluation import evaluation_router
from controlplane.api._fleet import fleet_router
from controlplane.api._instances import instances_router
from controlplane.api._metrics import metrics_route
from controlplane.api._rollouts import rollouts_router
from controlplane.api._schemas import Health
from controlplane.api._services import services_router
from controlplane.control import Controller
from controlplane.dashboard import mount_dashboard
from controlplane.evaluator import Evaluator
from controlplane.rollout import RolloutDriver
from controlplane.xds import ProxyRegistry


def create_app(
    controller: Controller,
    registry: ProxyRegistry,
    evaluator: Evaluator | None = None,
    rollouts: RolloutDriver | None = None,
    metrics: CollectorRegistry | None = None,
) -> FastAPI:
    """The operator API over one controller and the proxy registry of its xDS server, and
    the web dashboard at `/`.

    `evaluator` and `rollouts` (the rollout driver), when this server runs them, add what
    they see to the status endpoints; the API works without them. `metrics` is the
    prometheus registry /metrics serves (the xDS server's, in `weir serve`).

    Mutating endpoints are plain `def`: FastAPI runs them in its threadpool, and the
    controller is synchronous and thread-safe.
    """
    app = FastAPI(
        title="weir",
        version=controlplane.__version__,
        description="Operator API of weir, a service-mesh traffic controller for Envoy.",
    )
    install_error_handlers(app)
    app.include_router(services_router(controller))
    app.include_router(instances_router(controller))
    app.include_router(fleet_router(controller, registry))
    app.include_router(evaluation_router(controller, evaluator))
    app.include_router(rollouts_router(controller, evaluator, rollouts))
    app.include_router(dashboard_data_router(controller, evaluator))
    app.router.routes.append(metrics_route(controller, registry, metrics))

    @app.get("/healthz", tags=["health"], summary="The API answers and the ledger is loaded")
    def healthz() -> Health:
        return Health(ledger_seq=controller.state.seq)

    mount_dashboard(app)  # the web dashboard at /, a client of the endpoints above
    return app
