"""judge(): one change's counts since it was made, against its baseline and its SLO -> a Verdict.

A pure function, cheap enough to run every second for every open change. Four anytime-valid
tests can fail a candidate; each is an e-process (see `_evidence`) that fails the verdict when it
reaches 1/alpha, so checking every second does not add false alarms:

  errors against the baseline   the candidate's share of all 5xx against its share of requests
  latency against the baseline  its share of the requests slower than a bucket bound, against its
                                share of requests; averaged over the bounds near the SLO
  errors against the SLO        its 5xx rate above the allowed 1 - success_rate/100
  latency against the SLO       more than 1% of its requests slower than the first bucket bound
                                at or above slo.latency_p99_ms (so its p99 is above the SLO)

The last two fail a candidate even when its baseline is just as bad. Without a baseline (the
service's first instance) only they apply.

A candidate passes when, after `min_requests`, its 5xx rate is confidently (an e-value against
"at least this rate" reaching 1/alpha) below a reference plus a tolerance -- the reference being
the SLO's allowed rate or, when lower, the baseline's rate (its anytime-valid lower bound) --
and no failing test is even halfway, on the log scale, to its threshold. A harmful candidate
passes with probability at most 2 alpha. Anything else is inconclusive, with an estimate of the
time to a decision at the current traffic rate: low traffic is not failure.

The four tests share one threshold, so a candidate that is harmless in every respect is failed
with probability at most 4 alpha in theory; the tests are conservative, and the benchmark
(bench/evaluator_sim.py) measures it. For a hard overall bound, give alpha / 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from controlplane.model import ArmEvidence, Outcome, Slo, Verdict
from controlplane.stats import LATENCY_BOUNDS_MS, ClusterCounts
from controlplane.verdict._evidence import (
    ABOVE,
    BELOW,
    MAX_E_VALUE,
    binomial_kl,
    rate_e_value,
    share_e_value,
)
from controlplane.verdict._histogram import Histogram

SLO_QUANTILE = 0.99
"""slo.latency_p99_ms is a 99th percentile: at most 1% of requests may be slower."""
LATENCY_SPAN = (0.05, 4.0)
"""The latency comparison looks at the bucket bounds from 1/20 to 4 times the SLO's p99 (with
Envoy's default buckets and a 300 ms SLO: 25, 50, 100, 250, 500 and 1000 ms)."""
MIN_ERROR_TOLERANCE = 1e-4
MAX_PROJECTION_S = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class VerdictPolicy:
    alpha: float = 0.01
    """Each failing test wrongly fails a candidate that is no worse (or within its SLO) with
    probability at most alpha, however often it is checked; the threshold is 1/alpha."""
    min_requests: int = 100
    """Requests the candidate must have served before it can pass (failing needs no minimum:
    the tests are valid from the first request)."""
    error_tolerance: float | None = None
    """How much higher (an absolute rate) the candidate's 5xx rate may be than the reference and
    still count as no worse. None: half the SLO's allowed error rate, at least 0.01%."""

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie strictly between 0 and 1, not {self.alpha}")
        if self.min_requests < 0:
            raise ValueError(f"min_requests must be at least 0, not {self.min_requests}")
        if self.error_tolerance is not None and not 0 <= self.error_tolerance < 1:
            raise ValueError(f"error_tolerance must lie in [0, 1), not {self.error_tolerance}")

    def tolerance_for(self, slo: Slo) -> float:
        if self.error_tolerance is not None:
            return self.error_tolerance
        return max(allowed_error_rate(slo) / 2, MIN_ERROR_TOLERANCE)


def allowed_error_rate(slo: Slo) -> float:
    return max(0.0, 1.0 - slo.success_rate / 100.0)


def extra_failures(candidate: ClusterCounts, baseline: ClusterCounts | None) -> float:
    """Failed requests beyond what the baseline's error rate would have failed (0 without a
    baseline that served requests). The evaluator multiplies it by the cost of one."""
    if baseline is None or baseline.requests <= 0:
        return 0.0
    rate = min(baseline.errors, baseline.requests) / baseline.requests
    return max(0.0, candidate.errors - candidate.requests * rate)


@dataclass(frozen=True, slots=True)
class _Test:
    """One failing test's state: its e-value, the best log likelihood ratio seen so far (how
    fast it would grow if the rates held) and how to say what it saw."""

    name: str
    e_value: float
    log_lr: float
    seen: Callable[[], str]


@dataclass(frozen=True, slots=True)
class _Pass:
    """The passing test: evidence that the candidate's 5xx rate is below `bound`."""

    e_value: float
    bound: float
    against: str
    """The reference, in words."""
    lowered: bool = False
    """Whether the bound starts from the baseline's lower confidence bound."""


@dataclass(frozen=True, slots=True)
class _Arm:
    """One side's counts, read once: its latency quantiles and tail counts."""

    requests: int
    errors: int
    latency: Histogram
    histogram_total: int
    p50_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, counts: ClusterCounts) -> _Arm:
        latency = Histogram.of(counts.latency)
        return cls(
            counts.requests,
            min(counts.errors, counts.requests),
            latency,
            latency.total,
            latency.quantile_ms(0.5),
            latency.quantile_ms(SLO_QUANTILE),
        )

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def evidence(self) -> ArmEvidence:
        return ArmEvidence(
            requests=self.requests,
            errors=self.errors,
            error_rate=self.error_rate,
            p50_ms=self.p50_ms,
            p99_ms=self.p99_ms,
        )


def judge(
    candidate: ClusterCounts,
    baseline: ClusterCounts | None,
    *,
    slo: Slo,
    elapsed_s: float,
    policy: VerdictPolicy = VerdictPolicy(),
) -> Verdict:
    """Judge a change from the counts accrued since it: the changed instance's (`candidate`)
    and the sum of the service's other live instances' (`baseline`, None when there are none).

    The verdict's error_e_value and latency_e_value are the tests against the baseline or,
    without one, against the SLO; its reason names the test that decided. extra_failures and
    cost are left at 0 for the caller (see `extra_failures`).
    """
    threshold = 1.0 / policy.alpha
    cand = _Arm.of(candidate)
    base = _Arm.of(baseline) if baseline is not None else None
    compared = base if base is not None and base.requests > 0 else None
    elapsed_s = max(0.0, elapsed_s)

    errors_vs_base = _errors_vs_baseline(cand, compared) if compared else None
    errors_vs_slo = _errors_vs_slo(cand, slo)
    latency_vs_base = _latency_vs_baseline(cand, compared, slo) if compared else None
    latency_vs_slo = _latency_vs_slo(cand, slo)
    # in order of precedence for the reason: what the change made worse comes first
    tests = [t for t in (errors_vs_base, latency_vs_base, errors_vs_slo, latency_vs_slo) if t]

    def verdict(outcome: Outcome, reason: str, expected_s: float | None = None) -> Verdict:
        latency = latency_vs_base or latency_vs_slo
        return Verdict(
            outcome=outcome,
            reason=reason,
            candidate=cand.evidence(),
            baseline=base.evidence() if base is not None else None,
            error_e_value=(errors_vs_base or errors_vs_slo).e_value,
            latency_e_value=latency.e_value if latency else None,
            threshold=threshold,
            elapsed_s=elapsed_s,
            expected_s_to_decision=expected_s,
        )

    if cand.requests == 0 and cand.histogram_total == 0:
        return verdict(
            Outcome.INCONCLUSIVE,
            f"inconclusive: no request has reached the candidate in {_duration(elapsed_s)}, "
            "so there is nothing to judge yet",
        )

    strongest = tests[0]
    for test in tests:
        if test.e_value >= threshold:
            return verdict(
                Outcome.FAIL, f"fail: {test.seen()}, e-value {_e(test.e_value)} >= {threshold:g}"
            )
        if test.e_value > strongest.e_value:
            strongest = test

    tolerance = policy.tolerance_for(slo)
    passing = _pass_test(cand, compared, slo, tolerance, threshold)
    quiet = strongest.e_value < math.sqrt(threshold)  # no test even halfway, on the log scale
    if passing.e_value >= threshold and quiet and cand.requests >= policy.min_requests:
        margin = " allowing for its sampling error" if passing.lowered else ""
        return verdict(
            Outcome.PASS,
            f"pass: with {100 * (1 - policy.alpha):g}% confidence the 5xx rate "
            f"{_rate(cand.errors, cand.requests)} is under {_pct(passing.bound)} "
            f"({passing.against}{margin}, plus a tolerance of {_points(tolerance)}), and no "
            f"test finds the candidate worse (p99 {_ms(cand.p99_ms)}"
            f"{f' against {_ms(compared.p99_ms)}' if compared else ''})",
        )

    log_t = math.log(threshold)
    scales = [_scale_to_cross(_log(t.e_value), t.log_lr, log_t) for t in tests]
    if quiet and cand.requests:
        observed = cand.errors / cand.requests
        pass_lr = (
            cand.requests * binomial_kl(observed, passing.bound)
            if observed < passing.bound
            else 0.0
        )
        to_pass = _scale_to_cross(_log(passing.e_value), pass_lr, log_t)
        if to_pass is not None:
            scales.append(max(to_pass, policy.min_requests / cand.requests))
    expected = _expected_seconds(scales, elapsed_s)
    rate = cand.requests / elapsed_s if elapsed_s > 0 else 0.0
    when = (
        f"about {_duration(expected)} more to a decision at {rate:.3g} requests/s"
        if expected is not None
        else "no decision in sight at the current rates"
    )
    harm = (
        f"the strongest evidence of harm ({strongest.name}) is an e-value of "
        f"{_e(strongest.e_value)} of {threshold:g}"
        if strongest.e_value > 1
        else "no evidence of harm"
    )
    return verdict(
        Outcome.INCONCLUSIVE,
        f"inconclusive: 5xx rate {_rate(cand.errors, cand.requests)} against "
        f"{passing.against}, p99 {_ms(cand.p99_ms)}; {harm}; {when}",
        expected,
    )


# The failing tests.


def _errors_vs_baseline(cand: _Arm, base: _Arm) -> _Test:
    share = cand.requests / (cand.requests + base.requests)
    events = cand.errors + base.errors
    e_value = share_e_value(cand.errors, events, share)
    return _Test(
        "errors against the baseline",
        e_value,
        _share_lr(cand.errors, events, share),
        lambda: (
            f"5xx rate {_rate(cand.errors, cand.requests)} against the baseline's "
            f"{_rate(base.errors, base.requests)}"
        ),
    )


def _errors_vs_slo(cand: _Arm, slo: Slo) -> _Test:
    allowed = allowed_error_rate(slo)
    observed = cand.errors / cand.requests if cand.requests else 0.0
    above = observed > allowed
    e_value = rate_e_value(cand.errors, cand.requests, allowed, ABOVE) if above else 1.0
    return _Test(
        "errors against the SLO",
        e_value,
        cand.requests * binomial_kl(observed, allowed) if above else 0.0,
        lambda: (
            f"5xx rate {_rate(cand.errors, cand.requests)} against the SLO's allowed "
            f"{_pct(allowed)} (success rate {slo.success_rate:g}%)"
        ),
    )


def _latency_vs_baseline(cand: _Arm, base: _Arm, slo: Slo) -> _Test | None:
    if cand.histogram_total == 0 or base.histogram_total == 0:
        return None
    bounds = _latency_bounds(slo.latency_p99_ms)
    share = cand.histogram_total / (cand.histogram_total + base.histogram_total)
    cum_c, cum_b = cand.latency.cumulative, base.latency.cumulative
    slow_c = [cand.histogram_total - cum_c[i] for i in bounds]
    slow_b = [base.histogram_total - cum_b[i] for i in bounds]
    total, best_e, j = 0.0, -1.0, 0
    for at, (k_c, k_b) in enumerate(zip(slow_c, slow_b, strict=True)):
        e_value = share_e_value(k_c, k_c + k_b, share)
        total += e_value
        if e_value > best_e:
            best_e, j = e_value, at
    bound = LATENCY_BOUNDS_MS[bounds[j]]
    return _Test(
        "latency against the baseline",
        min(total / len(bounds), MAX_E_VALUE),
        _share_lr(slow_c[j], slow_c[j] + slow_b[j], share),
        lambda: (
            f"{_rate(slow_c[j], cand.histogram_total)} of requests slower than {bound:g} ms "
            f"against the baseline's {_rate(slow_b[j], base.histogram_total)} (p99 "
            f"{_ms(cand.p99_ms)} against {_ms(base.p99_ms)})"
        ),
    )


def _latency_vs_slo(cand: _Arm, slo: Slo) -> _Test | None:
    i = _slo_bound(slo.latency_p99_ms)
    if i is None or cand.histogram_total == 0:
        return None
    slow = cand.latency.slower_than(i)
    allowed = 1.0 - SLO_QUANTILE
    observed = slow / cand.histogram_total
    above = observed > allowed
    e_value = rate_e_value(slow, cand.histogram_total, allowed, ABOVE) if above else 1.0
    return _Test(
        "latency against the SLO",
        e_value,
        cand.histogram_total * binomial_kl(observed, allowed) if above else 0.0,
        lambda: (
            f"{_rate(slow, cand.histogram_total)} of requests slower than "
            f"{LATENCY_BOUNDS_MS[i]:g} ms (p99 {_ms(cand.p99_ms)}) against the SLO's p99 of "
            f"{slo.latency_p99_ms:g} ms"
        ),
    )


@lru_cache(maxsize=64)
def _latency_bounds(slo_ms: float) -> tuple[int, ...]:
    """Indices of the bucket bounds the latency comparison looks at (never empty)."""
    lo, hi = slo_ms * LATENCY_SPAN[0], slo_ms * LATENCY_SPAN[1]
    inside = tuple(i for i, b in enumerate(LATENCY_BOUNDS_MS) if lo <= b <= hi)
    if inside:
        return inside
    nearest = min(range(len(LATENCY_BOUNDS_MS)), key=lambda i: abs(LATENCY_BOUNDS_MS[i] - slo_ms))
    return (nearest,)


@lru_cache(maxsize=64)
def _slo_bound(slo_ms: float) -> int | None:
    """The first bucket bound at or above the SLO's p99: more than 1% slower than it means a
    p99 above the SLO for certain (None when the SLO lies beyond the last bound)."""
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if bound >= slo_ms:
            return i
    return None


def _share_lr(k: int, n: int, share: float) -> float:
    if n == 0 or k / n <= share:
        return 0.0
    return n * binomial_kl(k / n, share)


# Passing.


def _pass_test(
    cand: _Arm, base: _Arm | None, slo: Slo, tolerance: float, threshold: float
) -> _Pass:
    """Evidence that the candidate's 5xx rate is below reference + tolerance, the reference
    being the SLO's allowed rate or, when lower, the baseline's: first at the baseline's point
    estimate and, only when that would pass, at its anytime-valid lower bound, so that a pass
    stays valid while the common case stays cheap."""
    allowed = allowed_error_rate(slo)
    if base is None or base.errors / base.requests >= allowed:
        bound = allowed + tolerance
        return _Pass(
            rate_e_value(cand.errors, cand.requests, bound, BELOW),
            bound,
            f"the SLO's allowed {_pct(allowed)}",
        )
    against = f"the baseline's {_rate(base.errors, base.requests)}"
    bound = base.errors / base.requests + tolerance
    e_value = rate_e_value(cand.errors, cand.requests, bound, BELOW)
    if e_value < threshold:
        return _Pass(e_value, bound, against)
    bound = _lower_bound(base.errors, base.requests, threshold) + tolerance
    return _Pass(rate_e_value(cand.errors, cand.requests, bound, BELOW), bound, against, True)


def _lower_bound(k: int, n: int, threshold: float) -> float:
    """Anytime-valid lower confidence bound on a rate: the least rate the one-sided test
    "at most this rate" has not rejected (its e-value falls as the rate rises)."""
    if k == 0:
        return 0.0
    lo, hi = 0.0, k / n
    for _ in range(40):
        mid = (lo + hi) / 2
        if rate_e_value(k, n, mid, ABOVE) >= threshold:
            lo = mid
        else:
            hi = mid
    return lo


# Time to a decision.


def _scale_to_cross(log_e: float, log_lr: float, log_threshold: float) -> float | None:
    """How many times the current counts a test needs to reach the threshold if the observed
    rates hold: a mixture's log e-value grows about like m * log_lr - log(m) / 2."""
    if log_e >= log_threshold:
        return 1.0
    if log_lr <= 0:
        return None
    cost = log_e - log_lr
    m = max(1.0, (log_threshold - cost) / log_lr)
    for _ in range(4):  # a contraction: a few rounds settle it well within "about"
        m = max(1.0, (log_threshold - cost + 0.5 * math.log(m)) / log_lr)
    return m


def _log(e_value: float) -> float:
    return math.log(max(e_value, 1e-300))


def _expected_seconds(scales: list[float | None], elapsed_s: float) -> float | None:
    finite = [m for m in scales if m is not None]
    if not finite or elapsed_s <= 0:
        return None
    seconds = (min(finite) - 1.0) * elapsed_s
    return seconds if seconds <= MAX_PROJECTION_S else None


# Saying it.


def _rate(k: int, n: int) -> str:
    return f"{_pct(k / n)} ({k:,} of {n:,})" if n else "- (0 requests)"


def _pct(x: float) -> str:
    return "0%" if x == 0 else f"{100 * x:.2g}%"


def _points(x: float) -> str:
    return f"{100 * x:.2g} percentage points"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def _e(value: float) -> str:
    return f"{value:.3g}" if value < 1e6 else f"{value:.2e}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
