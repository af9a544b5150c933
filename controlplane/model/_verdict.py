"""A verdict: the evaluator's judgement of one change, with its evidence. Stored in the ledger."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from controlplane.model._business import MAX_OBJECTIVES, ObjectiveEvidence, ValueEstimate
from controlplane.model._comparison import ComparisonEvidence
from controlplane.model._limits import MAX_VERDICT_REASON


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    IMPROVEMENT = "improvement"
    """Passed, and a business objective is better than the baseline's (never rolled back)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ArmEvidence(_Frozen):
    """What one side of the comparison (the changed instance, or its baseline) showed."""

    requests: int = Field(ge=0)
    errors: int = Field(ge=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    p50_ms: float | None = None
    p99_ms: float | None = None


class Verdict(_Frozen):
    outcome: Outcome
    reason: str = Field(max_length=MAX_VERDICT_REASON)
    """One sentence an operator can act on: what was seen and what it was measured against."""
    candidate: ArmEvidence
    """The evidence against the changed instance: with route retries, every attempt it served,
    each failed one a failure (what a retry made of it for the caller aside)."""
    baseline: ArmEvidence | None = None
    error_e_value: float | None = Field(default=None, ge=0)
    """Evidence that the candidate's error rate is worse than the baseline's (anytime-valid)."""
    latency_e_value: float | None = Field(default=None, ge=0)
    """Evidence that the candidate is slower than the baseline (anytime-valid)."""
    threshold: float | None = Field(default=None, gt=0)
    """The e-value at which the test decides (1/alpha)."""
    elapsed_s: float = Field(ge=0)
    """Time from the change to this judgement."""
    expected_s_to_decision: float | None = Field(default=None, ge=0)
    """While inconclusive: about how long until a decision at the current traffic rate."""
    callers: ArmEvidence | None = None
    """What the candidate's callers finally got (after retries): the requests it answered and
    those that failed. None for a shadow instance, whose answers reach no caller."""
    extra_failures: float = Field(default=0.0, ge=0)
    """Failed requests callers got beyond what the baseline's rate would have failed (none for
    a shadow: its failures reach no caller)."""
    cost: float = Field(default=0.0, ge=0)
    """extra_failures times the service's cost_per_failed_request."""
    objectives: tuple[ObjectiveEvidence, ...] = Field(default=(), max_length=MAX_OBJECTIVES)
    """Per business objective of the service: the comparison with the baseline."""
    value: ValueEstimate | None = None
    """The change's net value in money, with its interval (objectives, requests, failures)."""
    comparison: ComparisonEvidence | None = None
    """A change verified by comparing answers (a shadow of a service with `compare`): the
    differences per endpoint and field, with examples."""
