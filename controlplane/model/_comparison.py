"""What a comparison verdict keeps as evidence: per endpoint and field, how often the candidate's
answers differed from the old version's and how often two old instances differed from each
other, with a few examples. Bounded in size and redacted before it is made (see
controlplane.compare), since it is stored in the ledger."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from controlplane.model._compare import MAX_EXAMPLES
from controlplane.model._limits import (
    MAX_COMPARED_ENDPOINTS,
    MAX_COMPARED_FIELDS,
    MAX_COMPARISON_TEXT,
)

Text = Annotated[str, Field(max_length=MAX_COMPARISON_TEXT)]


def clip(text: str) -> str:
    """`text` as a comparison verdict may keep it: cut, and marked so, when too long."""
    if len(text) <= MAX_COMPARISON_TEXT:
        return text
    return text[: MAX_COMPARISON_TEXT - 1] + "…"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DifferenceExample(_Frozen):
    """One compared request on which the candidate's answer differed at `field`."""

    method: Text
    path: Text
    """The request's path and query (query values named in `redact` replaced), truncated."""
    field: Text
    """Where the answers differ, with list indices: $.items[3].price, header:etag, status."""
    primary: Text | None
    """The old version's value (truncated, redacted); None where it had no such field."""
    candidate: Text | None
    secondary: Text | None
    """The second old instance's value: when it differs from `primary` too, so did the noise."""


class FieldDifferences(_Frozen):
    field: Text
    """The field as counted: list indices as [*] ($.items[*].price), header:NAME, status, body."""
    candidate_differences: int = Field(ge=0)
    """Compared requests on which the candidate's answer differed from the primary's here."""
    noise_differences: int = Field(ge=0)
    """Compared requests on which the two old instances' answers differed here."""
    candidate_rate: float = Field(ge=0, le=1)
    noise_rate: float = Field(ge=0, le=1)
    e_value: float = Field(ge=0)
    """Evidence that the candidate differs more often than the noise, by more than the
    threshold (anytime-valid; counted from the field's first difference)."""
    fail_at: float = Field(gt=0)
    """The e-value at which this field fails the change (1/alpha, shared among fields)."""
    failed: bool
    examples: tuple[DifferenceExample, ...] = Field(default=(), max_length=MAX_EXAMPLES)


class EndpointDifferences(_Frozen):
    endpoint: Text
    """Method and route: `GET prefix /api`."""
    compared: int = Field(ge=0)
    fields: tuple[FieldDifferences, ...] = Field(default=(), max_length=MAX_COMPARED_FIELDS)
    """Fields that differed at least once, failing ones first, then by how far the candidate's
    rate exceeds the noise; at most a bounded number."""
    fields_left_out: int = Field(default=0, ge=0)


class ComparisonEvidence(_Frozen):
    """A compared change: what the comparator saw of the candidate against the old version."""

    compared: int = Field(ge=0)
    """Requests answered by the candidate and two old instances, and compared."""
    skipped: int = Field(default=0, ge=0)
    """Mirrored requests not compared: a request body over the comparator's cap, or an old
    instance that did not answer (an answer over the cap is compared, as "too long")."""
    dropped: int = Field(default=0, ge=0)
    """Mirrored requests dropped unsent because the comparator was saturated."""
    threshold: float = Field(gt=0, lt=1)
    """The difference in rates (candidate's minus noise's) that fails a field."""
    one_baseline: bool = False
    """True when only one old instance was live: the noise is two answers of that instance."""
    endpoints: tuple[EndpointDifferences, ...] = Field(
        default=(), max_length=MAX_COMPARED_ENDPOINTS
    )
