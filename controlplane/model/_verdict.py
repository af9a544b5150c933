"""A verdict: the evaluator's judgement of one change, with its evidence. Stored in the ledger."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from controlplane.model._business import ObjectiveEvidence, ValueEstimate
from controlplane.model._comparison import ComparisonEvidence


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
    reason: str
    """One sentence an operator can act on: what was seen and what it was measured against."""
    candidate: ArmEvidence
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
    extra_failures: float = Field(default=0.0, ge=0)
    """Failed requests beyond what the baseline's rate would have failed."""
    cost: float = Field(default=0.0, ge=0)
    """extra_failures times the service's cost_per_failed_request."""
    objectives: tuple[ObjectiveEvidence, ...] = ()
    """Per business objective of the service: the comparison with the baseline."""
    value: ValueEstimate | None = None
    """The change's net value in money, with its interval (objectives, requests, failures)."""
    comparison: ComparisonEvidence | None = None
    """A change verified by comparing answers (a shadow of a service with `compare`): the
    differences per endpoint and field, with examples."""
