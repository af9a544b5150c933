"""A service's policy as operators write it in a service file (`weir apply -f`).

Only `name` is required. Unknown fields are refused so that a typo never silently turns into a
default.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from controlplane.model._business import (
    MAX_OBJECTIVES,
    Cohort,
    Objective,
    OutcomeHeader,
    check_objectives,
)
from controlplane.model._compare import Compare
from controlplane.model._durations import Duration
from controlplane.model._limits import (
    MAX_ADDRESS,
    MAX_DOMAINS,
    MAX_HEADER_VALUE,
    MAX_MATCH_HEADERS,
    MAX_PATH,
    MAX_ROUTES,
    MAX_STEPS,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DOMAIN = re.compile(r"^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?$")

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL.pattern,
        description="DNS-label style: lower-case letters, digits and '-', not at either end.",
    ),
]


SERVICE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

ServiceName = Annotated[
    Name,
    Field(
        pattern=SERVICE_NAME.pattern,
        description="DNS-label style without '--': cluster names join service and id with '--'.",
    ),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


RetryOn = Literal[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
]


MAX_TIMEOUT_S = 86400.0
"""Route timeouts beyond a day are a typo, and Envoy rejects durations past protobuf's range."""


class Retries(_Frozen):
    attempts: int = Field(ge=0, le=10)
    on: tuple[RetryOn, ...] = Field(default=("5xx", "reset"), max_length=len(get_args(RetryOn)))
    per_try_timeout: Annotated[Duration, Field(gt=0, le=MAX_TIMEOUT_S)] | None = None


HeaderName = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^:?[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
]
"""An HTTP header name (RFC 9110 token; pseudo-headers such as :authority allowed)."""


class RouteMatch(_Frozen):
    """One of prefix or path (default prefix "/"), plus headers that must equal a value."""

    prefix: Annotated[str, Field(max_length=MAX_PATH)] | None = None
    path: Annotated[str, Field(max_length=MAX_PATH)] | None = None
    headers: dict[HeaderName, Annotated[str, Field(max_length=MAX_HEADER_VALUE)]] = Field(
        default_factory=dict, max_length=MAX_MATCH_HEADERS
    )

    @model_validator(mode="after")
    def _one_path_rule(self) -> RouteMatch:
        if self.prefix is not None and self.path is not None:
            raise ValueError("give prefix or path, not both")
        for value in (self.prefix, self.path):
            if value is not None and not value.startswith("/"):
                raise ValueError(f"{value!r} must start with '/'")
        return self


class Route(_Frozen):
    match: RouteMatch = Field(default_factory=RouteMatch)
    timeout: Annotated[Duration, Field(ge=0, le=MAX_TIMEOUT_S)] | None = None
    retries: Retries | None = None


class Slo(_Frozen):
    success_rate: float = Field(
        default=99.9, gt=0, lt=100, description="percent of requests that are not 5xx"
    )
    latency_p99_ms: float = Field(default=300, gt=0)
    window: Duration = Field(default=30 * 86400.0, gt=0)


DEFAULT_WARMUP_S = 2.0
"""A new instance's first seconds behind Envoy (bench/warmup.py measures them)."""
DEFAULT_TOLERANCE = 5.0


class Judging(_Frozen):
    """How the evaluator judges this service's changes (the `verdict:` section)."""

    warmup: Duration = Field(
        default=DEFAULT_WARMUP_S,
        le=3600,
        description="a newly serving instance's first seconds: only gross failure (a 5xx rate "
        "above 50% and above its baseline's) fails it; the other tests start when it ends",
    )
    tolerance: float = Field(
        default=DEFAULT_TOLERANCE,
        gt=1,
        le=1000,
        description="a candidate passes once shown to fail fewer than this many times as many "
        "requests as its baseline (or no more than its baseline plus half the SLO's allowed "
        "rate, when that is more)",
    )


class Risk(_Frozen):
    cost_per_failed_request: float = Field(default=0.0, ge=0)
    value_per_request: float = Field(default=0.0, ge=0)


class Strategy(StrEnum):
    CANARY = "canary"
    PARTIAL = "partial"
    BLUE_GREEN = "blue-green"
    SHADOW = "shadow"


def check_steps(steps: tuple[float, ...]) -> tuple[float, ...]:
    """Canary steps: percentages of live traffic that rise strictly to 100."""
    if not steps:
        raise ValueError("at least one step")
    if list(steps) != sorted(set(steps)):
        raise ValueError("steps must rise strictly")
    if steps[-1] != 100:
        raise ValueError("the last step must be 100")
    return steps


Steps = Annotated[
    tuple[Annotated[float, Field(gt=0, le=100)], ...],
    Field(max_length=MAX_STEPS),
    AfterValidator(check_steps),
]
"""Percentages of the service's live traffic, rising strictly to 100."""

MirrorPercent = Annotated[float, Field(gt=0, le=100)]

DEFAULT_GRACE_S = 300.0
DEFAULT_DECIDE_WITHIN_S = 600.0

DecideWithin = Annotated[
    Duration,
    Field(
        gt=0,
        le=7 * 86400.0,
        description="how long a step may wait for its verdict: past it an inconclusive step is "
        "recorded, and the rollout waits for the operator (or goes on, with accept_risk); the "
        "evaluator judges on",
    ),
]
AcceptRisk = Annotated[
    bool,
    Field(description="go on from a step still inconclusive at decide_within, the risk recorded"),
]


DEFAULT_STEPS: tuple[float, ...] = (1, 5, 25, 50, 100)
"""weir's steps when neither the service file nor the operator names any: fitted to the
service's traffic when a rollout starts (controlplane.rollout._forecast.fit_default_steps)."""


class RolloutDefaults(_Frozen):
    strategy: Strategy = Strategy.CANARY
    steps: Steps | None = Field(
        default=None,
        description="unset: weir's default steps (1, 5, 25, 50, 100), from the smallest the "
        "service's recent traffic can judge within half of decide_within",
    )
    bake: Duration = 60.0
    auto_rollback: bool = True
    grace: Duration = Field(
        default=DEFAULT_GRACE_S,
        description="how long replaced instances stay inactive, for instant rollback, before "
        "they are retired",
    )
    mirror_percent: MirrorPercent = Field(
        default=10.0,
        description="shadow (and blue-green verified in shadow): percent of live traffic "
        "mirrored to the new version",
    )
    verify_in_shadow: bool = Field(
        default=False, description="blue-green: judge green in shadow before the switch"
    )
    value_gate: bool = Field(
        default=False,
        description="promote a step only when the lower bound of the change's net value per "
        "hour is at least 0",
    )
    decide_within: Duration = Field(
        default=DEFAULT_DECIDE_WITHIN_S,
        gt=0,
        le=7 * 86400.0,
        description="how long a step waits for its verdict: past it an inconclusive step is "
        "recorded, and the rollout waits for the operator (or goes on, with accept_risk)",
    )
    accept_risk: bool = Field(
        default=False,
        description="go on from a step still inconclusive at decide_within, the risk recorded",
    )


PIN_HEADER = "x-weir-version"


class Pinning(_Frozen):
    """A/B pinning, for testers: a request whose `header` names a version goes to that version's
    instances whatever the weights: its live ones by weight, else its shadow ones equally, and
    its inactive ones only with `dark_launch: true`. Off unless `enabled: true`: a `pinning`
    section without it changes nothing."""

    enabled: bool = False
    header: HeaderName = PIN_HEADER
    dark_launch: bool = Field(
        default=False,
        description="let a pinned request reach a version's inactive instances (a dark launch)",
    )

    @field_validator("header")
    @classmethod
    def _lower_case(cls, header: str) -> str:
        if header.startswith(":"):
            raise ValueError("a pseudo-header cannot carry a version")
        return header.lower()  # Envoy compares header names in lower case


PROXY_GROUP = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MAX_CALLERS = 256

ProxyGroup = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=PROXY_GROUP.pattern,
        description="A proxy group: the node.cluster of its Envoys (weir bootstrap --cluster).",
    ),
]


class ServiceSpec(_Frozen):
    """Routing policy, SLO, risk model and rollout defaults of one service."""

    name: ServiceName
    domains: tuple[Annotated[str, Field(max_length=MAX_ADDRESS)], ...] = Field(
        default=(), max_length=MAX_DOMAINS
    )
    routes: tuple[Route, ...] = Field(default=(), max_length=MAX_ROUTES)
    slo: Slo = Field(default_factory=Slo)
    risk: Risk = Field(default_factory=Risk)
    verdict: Judging = Field(default_factory=Judging)
    rollout: RolloutDefaults = Field(default_factory=RolloutDefaults)
    pinning: Pinning | None = None
    # Business objectives and sticky cohorts (model/_business.py).
    objectives: Annotated[
        tuple[Objective, ...], Field(max_length=MAX_OBJECTIVES), AfterValidator(check_objectives)
    ] = ()
    outcome_header: OutcomeHeader = Field(default_factory=OutcomeHeader)
    cohort: Cohort | None = None
    compare: Compare | None = Field(
        default=None,
        description="Verify shadow instances by comparing their answers with the old version's "
        "(see controlplane.model._compare).",
    )
    callers: tuple[ProxyGroup, ...] = Field(
        default=(),
        max_length=MAX_CALLERS,
        description="Proxy groups (node.cluster) whose scoped sidecars call this service: they "
        "get its virtual host and clusters beside those they name themselves (weir bootstrap "
        "--calls). Proxies that are not scoped get every service anyway.",
    )

    @field_validator("domains")
    @classmethod
    def _valid_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        for domain in domains:
            if not DOMAIN.fullmatch(domain):
                raise ValueError(f"{domain!r} is not a host name")
        # Envoy compares domains without regard to case, and refuses duplicates.
        lowered = [d.lower() for d in domains]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a domain is listed twice")
        return tuple(lowered)

    @field_validator("callers")
    @classmethod
    def _callers_once(cls, callers: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(callers)) != len(callers):
            raise ValueError("a caller is listed twice")
        return callers

    def host_domains(self) -> tuple[str, ...]:
        """The Host/authority values routed to this service: its name first, then aliases
        (lower case, as Envoy compares them)."""
        return (self.name, *(d for d in self.domains if d != self.name))

    def effective_routes(self) -> tuple[Route, ...]:
        return self.routes or (Route(match=RouteMatch(prefix="/")),)
