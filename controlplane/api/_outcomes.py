"""/v1/outcomes: late business outcomes (a purchase after the response) pushed by the
application, attributed to an instance, idempotent by the client's id (outcomes/_late.py)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from controlplane.api._auth import OPERATOR
from controlplane.api._errors import refusals
from controlplane.control import Controller
from controlplane.errors import InvalidInput
from controlplane.outcomes._late import LateOutcomes, Refused

MAX_BATCH = 1000


class LateOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
    """The client's id for this outcome: sending it again counts it once."""
    instance: Annotated[str, Field(min_length=1, max_length=63)]
    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    value: float = 1.0

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if not math.isfinite(value) or abs(value) > 1e9:
            raise ValueError("a finite number within 1e9")
        return value


class OutcomeBatch(BaseModel):
    outcomes: Annotated[list[LateOutcome], Field(min_length=1, max_length=MAX_BATCH)]


class Counted(BaseModel):
    counted: int
    """Outcomes counted now; the others' ids were seen before."""


def outcomes_router(controller: Controller, late: LateOutcomes) -> APIRouter:
    router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"], responses=refusals(422))

    @router.post("", openapi_extra=OPERATOR, summary="Push late business outcomes")
    def push(body: OutcomeBatch) -> Counted:
        state = controller.state
        for index, outcome in enumerate(body.outcomes):  # all or nothing
            try:
                late.check(state, instance=outcome.instance, key=outcome.key)
            except Refused as refused:
                raise InvalidInput(
                    f"outcome {index}: {refused}", field=f"outcomes.{index}.{refused.field}"
                ) from None
        counted = sum(
            late.add(state, id=o.id, instance=o.instance, key=o.key, value=o.value)
            for o in body.outcomes
        )
        return Counted(counted=counted)

    return router
