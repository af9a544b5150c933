"""/v1/evaluations and /v1/services/{name}/budget: what the evaluator sees right now."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from controlplane.api._errors import refusals
from controlplane.control import Controller
from controlplane.errors import NotFound, StoreError
from controlplane.evaluator import Evaluator
from controlplane.model import Verdict


class EvaluationView(BaseModel):
    change_seq: int
    instance_id: str
    service: str
    verdict: Verdict | None


class BurnRateView(BaseModel):
    long_window_s: float
    short_window_s: float
    threshold: float
    long: float | None
    short: float | None
    alerting: bool


class BudgetView(BaseModel):
    service: str
    success_rate: float
    window_s: float
    requests: float
    errors: float
    allowed_failures: float
    remaining: float | None
    exhausted: bool
    frozen: bool
    """New live activations are refused until the budget recovers (or an override)."""
    burn_rates: list[BurnRateView]
    stats_error: str | None
    split_mismatch: bool | None = None
    """Whether the proxies' observed split differs from the weights (None: not checked)."""
    split: str | None = None
    """The split check's finding, naming the instance furthest off its share."""


def evaluation_router(controller: Controller, evaluator: Evaluator | None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["evaluation"], responses=refusals(422))

    def running() -> Evaluator:
        if evaluator is None:
            raise StoreError("this weir server runs without an evaluator (no stats source)")
        return evaluator

    # async: the evaluator lives on the event loop, so it is read there too.
    @router.get(
        "/evaluations",
        responses=refusals(503),
        summary="Changes being judged now, with their latest verdict",
    )
    async def evaluations() -> list[EvaluationView]:
        return [
            EvaluationView(
                change_seq=e.change_seq,
                instance_id=e.instance_id,
                service=e.service,
                verdict=e.verdict,
            )
            for e in running().evaluations()
        ]

    @router.get(
        "/services/{name}/budget",
        responses=refusals(404, 503),
        summary="SLO, error budget left, burn rates and whether new traffic is frozen",
    )
    async def budget(name: str) -> BudgetView:
        if name not in controller.state.services:
            raise NotFound(f"unknown service {name!r}", field="name")
        return budget_view(running(), name)

    return router


def budget_view(evaluator: Evaluator, name: str) -> BudgetView:
    """A known service's budget as the evaluator sees it now (on the event loop)."""
    b = evaluator.budget(name)
    split = evaluator.splits.get(name)
    return BudgetView(
        service=b.service,
        success_rate=b.success_rate,
        window_s=b.window_s,
        requests=b.requests,
        errors=b.errors,
        allowed_failures=b.allowed_failures,
        remaining=b.remaining,
        exhausted=b.exhausted,
        frozen=b.exhausted,
        burn_rates=[
            BurnRateView(
                long_window_s=r.long_window_s,
                short_window_s=r.short_window_s,
                threshold=r.threshold,
                long=r.long,
                short=r.short,
                alerting=r.alerting,
            )
            for r in b.burn_rates
        ],
        stats_error=evaluator.source_error,
        split_mismatch=split.mismatch if split else None,
        split=split.reason if split else None,
    )
