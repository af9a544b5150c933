"""Business objectives of a service, sticky cohorts, and what a verdict says about them.

A service file's `objectives:` names what the business measures per request (orders per
request, revenue per request), which way is better, what one unit is worth and the smallest
relative harm that matters; `cohort:` names the request header or cookie that keeps a user on
one version while the weights grow. A verdict carries, per objective, the comparison of the
changed instance with its baseline (`ObjectiveEvidence`) and the change's value in money
(`ValueEstimate`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from controlplane.model._limits import MAX_VERDICT_REASON

OBJECTIVE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
OUTCOME_HEADER = "x-weir-outcome"
"""The response header in which an instance reports each request's outcome:
`order=1; revenue=12.50` (keys as the objectives' `source.header` name them)."""
MAX_OBJECTIVES = 8
MAX_PROMQL = 1024
INSTANCE_PLACEHOLDER = "{instance}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _percent(value: object) -> object:
    """`2%` or `2` (percent, like slo.success_rate) -> 2.0."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1].strip()
    return value


Percent = Annotated[float, BeforeValidator(_percent)]


class ObjectiveKind(StrEnum):
    RATIO = "ratio"
    """Events per request (orders per request): a request counts once if its outcome names
    the event with a value above 0."""
    MEAN = "mean"
    """A value per request (revenue per request, basket size); a request without one is 0."""


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class ObjectiveSource(_Frozen):
    """Where the objective's numbers come from: exactly one of the three."""

    header: Annotated[str, Field(max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None
    """The key in the instance's outcome header (`order` in `order=1; revenue=12.50`),
    learnt through Envoy's access logs."""
    promql: Annotated[str, Field(min_length=1, max_length=MAX_PROMQL)] | None = None
    """A PromQL expression giving the instance's cumulative total (events for a ratio, the
    summed value for a mean), with `{instance}` where the instance id goes."""
    api: Annotated[str, Field(max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None
    """The key under which the application pushes late outcomes to `/v1/outcomes`."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ObjectiveSource:
        given = [n for n in ("header", "promql", "api") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of header, promql or api")
        if self.promql is not None and INSTANCE_PLACEHOLDER not in self.promql:
            raise ValueError(f"the PromQL expression must contain {INSTANCE_PLACEHOLDER}")
        return self

    @property
    def kind(self) -> Literal["header", "promql", "api"]:
        if self.header is not None:
            return "header"
        return "promql" if self.promql is not None else "api"


class Objective(_Frozen):
    name: Annotated[str, Field(max_length=32, pattern=OBJECTIVE_NAME.pattern)]
    kind: ObjectiveKind
    better: Better = Better.HIGHER
    value_per_unit: float = Field(default=0.0, ge=0, le=1e9)
    """Money per event (ratio) or per unit of the value (mean)."""
    tolerance: Percent = Field(default=2.0, gt=0, lt=100)
    """The smallest relative harm that matters, in percent of the baseline (`2%` or `2`)."""
    source: ObjectiveSource
    unit: (
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 _-]+$")] | None
    ) = None
    """What one event or value is called when shown (`orders`); default: the name."""

    @property
    def label(self) -> str:
        """How an effect is shown: `orders/request`."""
        return f"{self.unit or self.name}/request"


class OutcomeHeader(_Frozen):
    """How the instances report outcomes in their answers. (Envoy's runtime key
    `weir.outcome_sample`, a percentage, samples what is logged, proxy by proxy.)"""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")] = (
        OUTCOME_HEADER
    )
    expose: bool = False
    """Whether the header reaches the caller too (by default Envoy removes it)."""


class Cohort(_Frozen):
    """Sticky cohorts: the hash of this request header or cookie picks the instance, so a user
    stays on one version while the weights grow."""

    header: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")] | None
    ) = None
    cookie: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] | None
    ) = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Cohort:
        if (self.header is None) == (self.cookie is None):
            raise ValueError("give exactly one of header or cookie")
        return self


def check_objectives(objectives: tuple[Objective, ...]) -> tuple[Objective, ...]:
    if len(objectives) > MAX_OBJECTIVES:
        raise ValueError(f"at most {MAX_OBJECTIVES} objectives")
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ValueError("an objective name is listed twice")
    return objectives


# What a verdict says.


class ObjectiveOutcome(StrEnum):
    HARM = "harm"
    """Worse than the baseline beyond the tolerance: the change fails."""
    IMPROVEMENT = "improvement"
    """Better than the baseline: recorded, never rolled back."""
    PASS = "pass"
    """No harm beyond the tolerance."""
    INCONCLUSIVE = "inconclusive"


class ObjectiveArm(_Frozen):
    requests: int = Field(ge=0)
    """Requests whose outcome was seen (sampled, for the header source)."""
    total: float = Field(ge=0)
    """Events (ratio) or the summed value (mean) over those requests."""

    @property
    def per_request(self) -> float | None:
        return self.total / self.requests if self.requests else None


class ObjectiveEvidence(_Frozen):
    name: str = Field(max_length=32)
    label: str = Field(max_length=64)
    better: Better
    outcome: ObjectiveOutcome
    candidate: ObjectiveArm
    baseline: ObjectiveArm | None = None
    effect: float | None = None
    """The candidate's relative change against the baseline (-0.18: 18% lower)."""
    low: float | None = None
    high: float | None = None
    """The effect's anytime-valid interval (None: unbounded on that side)."""
    tolerance: float = Field(ge=0)
    """As a fraction (0.02)."""
    harm_e_value: float | None = Field(default=None, ge=0)
    """Evidence of harm beyond the tolerance (anytime-valid; the change fails at threshold)."""
    expected_s_to_decision: float | None = Field(default=None, ge=0)
    reason: str = Field(max_length=MAX_VERDICT_REASON)

    def shown(self) -> str:
        """`orders/request -18% [-25%, -11%]` (with minus signs)."""
        return effect_text(self.label, self.effect, self.low, self.high)


class ValueEstimate(_Frozen):
    """What a change is worth, in the service's money, at its current traffic."""

    per_hour: float
    """Net value per hour: objectives' effects, plus value_per_request of requests it serves
    better, minus the cost of its extra failures."""
    low: float | None = None
    high: float | None = None
    """The anytime-valid interval of per_hour (None: unbounded on that side)."""
    requests_per_s: float = Field(ge=0)
    """The candidate's traffic the figure is scaled to."""
    realized: float = 0.0
    """What the change gained (or, negative, lost) over the judged window itself."""

    def shown(self) -> str:
        """`-540.00/h [-700.00, -380.00]` (an open end is inf)."""
        low = "-inf" if self.low is None else f"{self.low:+,.2f}"
        high = "+inf" if self.high is None else f"{self.high:+,.2f}"
        return f"{self.per_hour:+,.2f}/h [{low}, {high}]"


def effect_text(label: str, effect: float | None, low: float | None, high: float | None) -> str:
    """`orders/request -18% [-25%, -11%]` (with minus signs) (an open end is ∞)."""
    if effect is None:
        return f"{label} -"
    low_text = "\u2212\u221e" if low is None else _signed(low)
    high_text = "+\u221e" if high is None else _signed(high)
    return f"{label} {_signed(effect)} [{low_text}, {high_text}]"


def _signed(x: float) -> str:
    percent = 100 * x
    text = f"{abs(percent):.2g}" if abs(percent) < 10 else f"{abs(percent):.0f}"
    return ("+" if percent > 0 else "\u2212" if percent < 0 else "") + text + "%"
