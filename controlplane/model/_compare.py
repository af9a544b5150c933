"""The `compare` section of a service file: shadow instances verified by comparing answers.

With this section, a shadow instance of the service is not mirrored to directly: Envoy mirrors
the share of requests its `mirror_percent` asks for to weir's comparator, which sends each one to
the candidate and to two live instances of the old version and compares the three answers. A
difference the two old instances also show between themselves is noise; a field that differs
from the old version beyond that noise fails the change (controlplane.verdict._compare).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controlplane.model._durations import Duration

Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]

SAFE_METHODS: tuple[Method, ...] = ("GET", "HEAD", "OPTIONS")
"""Methods that, by HTTP's contract, change nothing: sending them three times is harmless."""

COMPARE_HEADER = "x-weir-compare"
"""Set by Envoy on a request it mirrors to the comparator: the shadow instance to compare."""
ROUTE_HEADER = "x-weir-route"
"""Set beside it: the index of the service's route that matched (its endpoint)."""

MAX_RULES = 64
MAX_EXAMPLES = 10
MAX_TIMEOUT_S = 60.0
MAX_HEADER_NAME = 256
"""As _HEADER allows."""

_HEADER = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,256}$")
_JSON_PATH = re.compile(r"^\$(\.\.?[A-Za-z_][A-Za-z0-9_-]*|\[\*\]|\[\d+\]|\['[^'\\]{1,256}'\])*$")
_QUERY = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/-]{1,256}$")

FieldRule = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        description="A JSON path such as $.request_id, $.items[*].price or $..trace_id (any "
        "depth), `header:NAME`, `query:NAME` (redact only), `status` or `body`.",
    ),
]


def check_rule(rule: str, *, query: bool) -> str:
    """A field rule as written, headers and query names checked; JSON paths normalised."""
    kind, sep, name = rule.partition(":")
    if sep and kind == "header":
        if not _HEADER.fullmatch(name.lower()):
            raise ValueError(f"{rule!r}: {name!r} is not a header name")
        return f"header:{name.lower()}"
    if sep and kind == "query":
        if not query:
            raise ValueError(f"{rule!r}: query parameters are not compared, only redacted")
        if not _QUERY.fullmatch(name):
            raise ValueError(f"{rule!r}: {name!r} is not a query parameter name")
        return rule
    if rule in ("status", "body"):
        return rule
    if not _JSON_PATH.fullmatch(rule):
        raise ValueError(
            f"{rule!r} is not a field: give a JSON path ($.a.b, $.items[*].price, $..id), "
            "header:NAME, status or body"
        )
    return re.sub(r"\[\d+\]", "[*]", rule)  # fields are counted over every element of a list


class Compare(BaseModel):
    """How the service's shadow instances are compared with its live ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    methods: tuple[Method, ...] = Field(
        default=SAFE_METHODS,
        min_length=1,
        max_length=len(get_args(Method)),
        description="Only requests with these methods are mirrored to the comparator.",
    )
    allow_side_effects: bool = Field(
        default=False,
        description="Needed to list POST, PUT, PATCH or DELETE: each compared request is sent "
        "three times (to the candidate and to two old instances), which is only harmless for "
        "a service whose such requests change nothing.",
    )
    headers: tuple[Annotated[str, Field(max_length=MAX_HEADER_NAME)], ...] = Field(
        default=("content-type",),
        max_length=MAX_RULES,
        description="Response headers compared (names, any case).",
    )
    ignore: tuple[FieldRule, ...] = Field(
        default=(),
        max_length=MAX_RULES,
        description="Fields never counted as differences: $.request_id, header:date...",
    )
    redact: tuple[FieldRule, ...] = Field(
        default=(),
        max_length=MAX_RULES,
        description="Fields whose values are never stored (still compared): JSON paths, "
        "header:NAME, query:NAME. Authorization, cookies and set-cookie always are.",
    )
    threshold: float = Field(
        default=5.0,
        gt=0,
        lt=100,
        description="Percentage points: a field fails when the candidate differs from the old "
        "version in more answers than the two old instances differ between themselves, by more "
        "than this, with anytime-valid confidence.",
    )
    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=0.5,
        description="The chance of failing a candidate that is no worse on every field (or of "
        "passing one that is worse on some field) is at most alpha, however often it is judged.",
    )
    timeout: Annotated[Duration, Field(gt=0, le=MAX_TIMEOUT_S)] = Field(
        default=2.0, description="Each of the three requests."
    )
    examples: int = Field(
        default=3,
        ge=0,
        le=MAX_EXAMPLES,
        description="Examples kept per differing field (bodies truncated, redaction applied).",
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: tuple[str, ...]) -> tuple[str, ...]:
        lowered = tuple(h.lower() for h in headers)
        for name in lowered:
            if not _HEADER.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
        return tuple(dict.fromkeys(lowered))

    @field_validator("ignore")
    @classmethod
    def _ignore_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_rule(rule, query=False) for rule in rules)

    @field_validator("redact")
    @classmethod
    def _redact_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_rule(rule, query=True) for rule in rules)

    @model_validator(mode="after")
    def _side_effects_allowed(self) -> Compare:
        unsafe = [m for m in self.methods if m not in SAFE_METHODS]
        if unsafe and not self.allow_side_effects:
            raise ValueError(
                f"{', '.join(unsafe)} may change the service's data, and the comparator sends "
                "each compared request three times: set allow_side_effects: true only if such "
                "requests are harmless to repeat"
            )
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("a method is listed twice")
        return self
