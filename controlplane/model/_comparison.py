"""What a comparison verdict keeps as evidence: per endpoint and field, how often the candidate's
answers differed from the old version's and how often two old instances differed from each
other, with a few examples. Bounded in size and redacted before it is made (see
controlplane.compare), since it is stored in the ledger."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DifferenceExample(_Frozen):
    """One compared request on which the candidate's answer differed at `field`."""

    method: str
    path: str
    """The request's path and query (query values named in `redact` replaced), truncated."""
    field: str
    """Where the answers differ, with list indices: $.items[3].price, header:etag, status."""
    primary: str | None
    """The old version's value (truncated, redacted); None where it had no such field."""
    candidate: str | None
    secondary: str | None
    """The second old instance's value: when it differs from `primary` too, so did the noise."""


class FieldDifferences(_Frozen):
    field: str
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
    examples: tuple[DifferenceExample, ...] = ()


class EndpointDifferences(_Frozen):
    endpoint: str
    """Method and route: `GET prefix /api`."""
    compared: int = Field(ge=0)
    fields: tuple[FieldDifferences, ...] = ()
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
    endpoints: tuple[EndpointDifferences, ...] = ()
