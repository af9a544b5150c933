"""judge_comparison(): a compared change's counts -> a Verdict. Pure; cheap enough every second.

Each compared request was answered by the candidate and by two old instances, the primary and
the secondary. Per endpoint (method and route) and field, each request gives a pair: did the
candidate's value differ from the primary's (c), did the secondary's (s)? Twitter's Diffy showed
that the second old instance is what makes this usable: where s is often 1 (timestamps, ids,
random order) a difference of the candidate's says nothing. Diffy reports a field when its
candidate-difference count beats its noise count by fixed relative and absolute margins, which
is a judgement by eye. weir makes it a test with anytime-valid error control instead:

    X = c - s, in {-1, 0, 1};  E[X] = rate_c - rate_s, the candidate's differences beyond noise
    H0 (no worse):  E[X] <= delta, the threshold

For any fixed bet 0 <= lam < 1/(1 + delta), prod (1 + lam (X_i - delta)) has expectation at most
1 under H0 at every step (each factor's conditional mean is 1 + lam (E[X] - delta) <= 1), so it
is a test supermartingale; an average over a grid of bets is one too, and depends only on the
counts of X = 1 (candidate only), X = -1 (noise only) and X = 0. By Ville's inequality it reaches
1/alpha with probability at most alpha, however often it is read. Passing is the mirror image:
prod (1 + mu (delta - X_i)) against H0' "E[X] >= delta", for every field.

Many fields are tested at once, and which exist is learnt from the answers. A field's test is
started just after its first difference (the request that revealed it is left out, or choosing
it would bias its first bet), and the k-th field to be found in a change fails at
k (k + 1) / alpha: the weights 1 / (k (k + 1)) sum to 1, so the average of all the fields'
processes is itself a test supermartingale, and any one of them crossing its own bar means the
average crossed 1/alpha. A harmless candidate is failed with probability at most alpha in all.
A harmful one passes only if a field that is worse passes its own test: at most alpha.

A field never seen to differ has only X = 0 behind it; one shared value stands for all of them.
An endpoint whose fields outgrew the tracking cap, or a change whose endpoints did, cannot pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controlplane.model import (
    MAX_VERDICT_REASON,
    ArmEvidence,
    ComparisonEvidence,
    DifferenceExample,
    EndpointDifferences,
    FieldDifferences,
    Outcome,
    Verdict,
    clip,
)
from controlplane.model._limits import MAX_COMPARED_ENDPOINTS, MAX_COMPARED_FIELDS
from controlplane.verdict._evidence import MAX_E_VALUE

MAX_FIELDS_SHOWN = MAX_COMPARED_FIELDS
"""Fields kept per endpoint in a verdict (failing ones first)."""
MAX_ENDPOINTS_SHOWN = MAX_COMPARED_ENDPOINTS

_BETS = tuple(0.005 * (0.98 / 0.005) ** (i / 11) for i in range(12))
"""Bets as fractions of their largest allowed size, 0.5% to 98%, spaced evenly on a log scale:
small bets suit small excesses, large ones large excesses (equal weights)."""
_LOG_BETS = math.log(len(_BETS))
_LOG_MAX = math.log(MAX_E_VALUE)


@dataclass(slots=True)
class FieldCounts:
    """One field of one endpoint, counted over the compared requests since the change."""

    index: int
    """The order in which the change's fields were found to differ, from 1."""
    candidate_only: int = 0
    noise_only: int = 0
    both: int = 0
    base: tuple[int, int, int] = (0, 0, 0)
    """(candidate_only, noise_only, the endpoint's compared requests) just after the request
    that revealed the field: its failing test counts from there."""
    examples: list[DifferenceExample] = field(default_factory=list)


@dataclass(slots=True)
class EndpointCounts:
    compared: int = 0
    fields: dict[str, FieldCounts] = field(default_factory=dict)
    untracked: int = 0
    """Requests that differed in a field beyond the tracking cap."""


@dataclass(slots=True)
class ArmCounts:
    """What one side answered: requests, failures (5xx or no answer) and latencies (a recent
    window, for quantiles)."""

    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass(slots=True)
class ComparisonCounts:
    """Everything the comparator counted for one change."""

    endpoints: dict[str, EndpointCounts] = field(default_factory=dict)
    fields_found: int = 0
    skipped: int = 0
    dropped: int = 0
    untracked_endpoints: int = 0
    one_baseline: bool = False
    candidate: ArmCounts = field(default_factory=ArmCounts)
    primary: ArmCounts = field(default_factory=ArmCounts)

    @property
    def compared(self) -> int:
        return sum(e.compared for e in self.endpoints.values())


def _mixture(terms: list[float]) -> float:
    top = max(terms)
    log_value = top + math.log(sum(math.exp(t - top) for t in terms)) - _LOG_BETS
    return MAX_E_VALUE if log_value >= _LOG_MAX else math.exp(log_value)


def excess_e_value(candidate_only: int, noise_only: int, compared: int, delta: float) -> float:
    """Evidence against "the candidate differs at most `delta` more often than the noise"."""
    ties = compared - candidate_only - noise_only
    if compared <= 0:
        return 1.0
    up, down, tie = (1 - delta) / (1 + delta), 1.0, delta / (1 + delta)
    log1p = math.log1p
    return _mixture(
        [
            candidate_only * log1p(g * up) + noise_only * log1p(-g * down) + ties * log1p(-g * tie)
            for g in _BETS
        ]
    )


def within_e_value(candidate_only: int, noise_only: int, compared: int, delta: float) -> float:
    """Evidence against "the candidate differs at least `delta` more often than the noise"."""
    ties = compared - candidate_only - noise_only
    if compared <= 0:
        return 1.0
    down, up, tie = 1.0, (1 + delta) / (1 - delta), delta / (1 - delta)
    log1p = math.log1p
    return _mixture(
        [
            candidate_only * log1p(-g * down) + noise_only * log1p(g * up) + ties * log1p(g * tie)
            for g in _BETS
        ]
    )


@dataclass(frozen=True, slots=True)
class _Judged:
    endpoint: str
    name: str
    counts: FieldCounts
    compared: int
    e_value: float
    fail_at: float
    passes: bool

    @property
    def failed(self) -> bool:
        return self.e_value >= self.fail_at

    @property
    def candidate_rate(self) -> float:
        c = self.counts
        return (c.candidate_only + c.both) / self.compared if self.compared else 0.0

    @property
    def noise_rate(self) -> float:
        c = self.counts
        return (c.noise_only + c.both) / self.compared if self.compared else 0.0

    @property
    def excess(self) -> float:
        return self.candidate_rate - self.noise_rate


def judge_comparison(
    counts: ComparisonCounts, *, threshold_pct: float, alpha: float, elapsed_s: float
) -> Verdict:
    """Fail when any field's candidate differences exceed its noise by more than the threshold
    (see the module's docstring); pass when every field of every endpoint is confidently within
    it; otherwise inconclusive."""
    delta = threshold_pct / 100
    judged: dict[str, list[_Judged]] = {}
    passing_endpoints = 0
    for name, endpoint in counts.endpoints.items():
        fields = [_judge_field(name, f, c, endpoint.compared, delta, alpha) for f, c in
                  endpoint.fields.items()]  # fmt: skip
        judged[name] = fields
        unseen = within_e_value(0, 0, endpoint.compared, delta) >= 1 / alpha
        if unseen and endpoint.untracked == 0 and all(f.passes for f in fields):
            passing_endpoints += 1
    failing = sorted(
        (f for fields in judged.values() for f in fields if f.failed), key=lambda f: -f.excess
    )
    evidence = _evidence(counts, judged, delta)
    compared = counts.compared
    if failing:
        worst = failing[0]
        outcome = Outcome.FAIL
        reason = (
            f"{worst.name} of {worst.endpoint} differs from the old version in "
            f"{worst.candidate_rate:.1%} of {worst.compared} compared answers, against "
            f"{worst.noise_rate:.1%} between two old instances: more than the "
            f"{threshold_pct:g}-point threshold (e-value {worst.e_value:.3g} >= "
            f"{worst.fail_at:.3g})"
        )
        if len(failing) > 1:
            reason += f"; {len(failing) - 1} more field(s) too"
    elif (
        compared > 0
        and passing_endpoints == len(counts.endpoints)
        and counts.untracked_endpoints == 0
    ):
        outcome = Outcome.PASS
        reason = (
            f"{compared} compared answers over {len(counts.endpoints)} endpoint(s) match the old "
            f"version's within {threshold_pct:g} points of its own noise on every field"
        )
    else:
        outcome = Outcome.INCONCLUSIVE
        reason = _undecided(counts, judged, passing_endpoints)
    return Verdict(
        outcome=outcome,
        reason=reason[:MAX_VERDICT_REASON],  # field names come from answers: long ones are cut
        candidate=_arm(counts.candidate),
        baseline=_arm(counts.primary),
        threshold=1 / alpha,
        elapsed_s=max(0.0, elapsed_s),
        comparison=evidence,
    )


def _judge_field(
    endpoint: str, name: str, counts: FieldCounts, compared: int, delta: float, alpha: float
) -> _Judged:
    a0, b0, n0 = counts.base
    e_value = excess_e_value(counts.candidate_only - a0, counts.noise_only - b0, compared - n0,
                             delta)  # fmt: skip
    passes = within_e_value(counts.candidate_only, counts.noise_only, compared, delta) >= 1 / alpha
    fail_at = counts.index * (counts.index + 1) / alpha
    return _Judged(endpoint, name, counts, compared, e_value, fail_at, passes)


def _undecided(
    counts: ComparisonCounts, judged: dict[str, list[_Judged]], passing_endpoints: int
) -> str:
    compared = counts.compared
    if compared == 0:
        why = "no request compared yet"
        if counts.skipped or counts.dropped:
            why += f" ({counts.skipped} skipped, {counts.dropped} dropped)"
        return why
    if counts.untracked_endpoints or any(e.untracked for e in counts.endpoints.values()):
        return (
            f"{compared} compared answers differ in more endpoints or fields than weir tracks: "
            "it cannot vouch for the untracked ones"
        )
    open_fields = [f for fields in judged.values() for f in fields if not f.passes]
    detail = ", ".join(f"{f.name} of {f.endpoint}" for f in open_fields[:3])
    return (
        f"{compared} compared answers; {passing_endpoints} of {len(counts.endpoints)} "
        f"endpoint(s) decided" + (f"; still open: {detail}" if detail else "")
    )


def _evidence(
    counts: ComparisonCounts, judged: dict[str, list[_Judged]], delta: float
) -> ComparisonEvidence:
    endpoints = []
    for name, fields in list(judged.items()):
        ordered = sorted(fields, key=lambda f: (not f.failed, -f.excess, f.name))
        endpoints.append(
            EndpointDifferences(
                endpoint=clip(name),
                compared=counts.endpoints[name].compared,
                fields=tuple(_field_evidence(f) for f in ordered[:MAX_FIELDS_SHOWN]),
                fields_left_out=max(0, len(ordered) - MAX_FIELDS_SHOWN),
            )
        )
    endpoints.sort(key=lambda e: (not any(f.failed for f in e.fields), -e.compared, e.endpoint))
    return ComparisonEvidence(
        compared=counts.compared,
        skipped=counts.skipped,
        dropped=counts.dropped,
        threshold=delta,
        one_baseline=counts.one_baseline,
        endpoints=tuple(endpoints[:MAX_ENDPOINTS_SHOWN]),
    )


def _field_evidence(judged: _Judged) -> FieldDifferences:
    c = judged.counts
    return FieldDifferences(
        field=clip(judged.name),
        candidate_differences=c.candidate_only + c.both,
        noise_differences=c.noise_only + c.both,
        candidate_rate=judged.candidate_rate,
        noise_rate=judged.noise_rate,
        e_value=judged.e_value,
        fail_at=judged.fail_at,
        failed=judged.failed,
        examples=tuple(c.examples),
    )


def _arm(arm: ArmCounts) -> ArmEvidence:
    latencies = sorted(arm.latencies_ms)
    return ArmEvidence(
        requests=arm.requests,
        errors=min(arm.errors, arm.requests),
        error_rate=arm.errors / arm.requests if arm.requests else None,
        p50_ms=_quantile(latencies, 0.5),
        p99_ms=_quantile(latencies, 0.99),
    )


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
