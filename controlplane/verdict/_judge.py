"""judge(): the evidence on one change, gathered interval by interval -> a Verdict.

`Evidence` is the running state of every test on one change; `Evidence.add` takes one interval
(what the candidate and its baseline -- the service's other live instances -- served between two
reads of the stats) and `judge` reads a Verdict off it. Both are pure. The evaluator adds an
interval every second; the simulator (bench/evaluator_sim.py) does exactly the same.

Why intervals, and why paired. Errors are not independent: a retry storm, a bad cache key or a
GC pause fails a run of requests at once. Counted one by one, such a clump on the candidate is
ten or twenty pieces of evidence where there is one, and harmless changes were rolled back a
quarter to two thirds of the time. So the tests here are betting e-processes
(`controlplane.verdict._betting`) whose unit of evidence follows what the service has shown:

- While a service's events are *shown* independent (`_dependence`: their per-second counts vary
  no more than independent ones do), each event is a unit, as before. This keeps detection fast:
  a 20% candidate is failed in a few seconds.
- Otherwise a unit is a *run*: consecutive intervals in which either side had events, ended by an
  interval without any (or after RUN_CAP_S). The bet is on the share of the run's events that
  fell on the candidate, against its share of the run's requests, so a clump -- however many
  errors, over however many consecutive seconds -- is one bet. Valid as long as a clump does not
  outlast the cap while events keep coming every second, and a clump lands on the candidate with
  probability at most its share of traffic.

Every comparison is *paired*: the candidate and its baseline are read over the same intervals,
and an event counts against the candidate only beyond its share of that interval's requests. A
shared incident (a downstream blip, an outage hitting every instance) puts events on both sides
in proportion and is no evidence at all. The absolute tests against the SLO apply only when
there is no baseline: a candidate no worse than its baseline is never failed for the service's
own breach (the budget freeze protects the service then).

Warm-up. The first `policy.warmup_s` after a change that brings an instance traffic it had not
had are judged for gross failure only: the candidate's 5xx rate above GROSS_RATE and above its
baseline's. The other tests start from zero when the warm-up ends.

The failing tests, two at a time (with a baseline the first two, without one the last two): the
average of the pair's e-values is one e-process, which fails the candidate at 1/alpha, so a
harmless change is failed with probability at most alpha however many tests look at it:

  errors against the baseline   events = 5xx, paired as above
  latency against the baseline  events = requests slower than each bound near the SLO's p99,
                                paired; the e-values averaged over the bounds
  errors against the SLO        without a baseline: the 5xx rate above the allowed rate (and
                                above the replaced version's, when a rollout step has a record of
                                it: `reference`)
  latency against the SLO       without a baseline: more than 1% slower than the first bound at
                                or above slo.latency_p99_ms

Passing. A candidate passes, after `min_requests`, when no failing test is even halfway (on the
log scale) to its threshold and the evidence shows it is not worse than its baseline by the
service's tolerance rho: either its events are fewer than rho times its share would allow (the
paired test betting on the baseline's side), or its 5xx rate is shown below delta, half the
SLO's allowed rate, whatever its baseline (for a baseline that hardly fails). So "worse by the
tolerance" is a 5xx rate above both rho times the baseline's and the baseline's plus delta.
Without a baseline: its 5xx rate shown below rho times the replaced version's (its lower
confidence bound), else below the allowed rate plus delta. A candidate worse than that passes
with probability at most alpha per route.

Anything else is inconclusive, with an estimate of the time to a decision at the rate the
evidence has grown so far: low traffic is not failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from controlplane.model import (
    LATENCY_BOUNDS_MS,
    ArmEvidence,
    ClusterCounts,
    Outcome,
    Slo,
    Verdict,
    say_duration,
)
from controlplane.verdict._betting import Paired, Rate, Unit, log_mean_exp
from controlplane.verdict._dependence import Dependence, dependence_of
from controlplane.verdict._histogram import Histogram
from controlplane.verdict._streams import (
    Dispersions,
    comparison_bounds,
    slo_bound,
    slow_counts,
    stream_bounds,
)
from controlplane.verdict._validate import InvalidCounts, checked, checked_seconds

SLO_QUANTILE = 0.99
"""slo.latency_p99_ms is a 99th percentile: at most 1% of requests may be slower."""
SURGE_EVENTS = 5
SURGE_FACTOR = 10.0
"""An interval with at least SURGE_EVENTS events (both sides together), more than SURGE_FACTOR
times what the service's rate before the change predicts, is a surge: a shared incident, or the
candidate failing wholesale. A failing test bets on it as one unit (its events are not
independent evidence), and the passing test leaves it out (an incident shows nothing about how
the candidate compares when the service is itself)."""
GROSS_RATE = 0.5
"""During the warm-up only a 5xx rate above this (and above the baseline's) fails."""
DEFAULT_TOLERANCE = 5.0
ABSOLUTE_TOLERANCE = 0.5
"""A candidate within half the SLO's allowed 5xx rate is no worse, whatever its baseline."""
DEFAULT_WARMUP_S = 2.0
MAX_PROJECTION_S = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class VerdictPolicy:
    alpha: float = 0.01
    """Each failing test wrongly fails a candidate that is no worse (or within its SLO) with
    probability at most alpha, however often it is checked; the threshold is 1/alpha."""
    min_requests: int = 100
    """Requests the candidate must have served (after its warm-up) before it can pass."""
    tolerance: float = DEFAULT_TOLERANCE
    """How many times its baseline's 5xx rate a candidate may reach and still count as no
    worse (or its baseline's plus half the SLO's allowed rate, when that is more)."""
    warmup_s: float = DEFAULT_WARMUP_S
    """A newly serving instance's first seconds, judged for gross failure only."""

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie strictly between 0 and 1, not {self.alpha}")
        if self.min_requests < 0:
            raise ValueError(f"min_requests must be at least 0, not {self.min_requests}")
        if not 1 < self.tolerance <= 1000:
            raise ValueError(f"tolerance must lie in (1, 1000], not {self.tolerance}")
        if not 0 <= self.warmup_s <= 3600:
            raise ValueError(f"warmup_s must lie in [0, 3600], not {self.warmup_s}")

    @property
    def threshold(self) -> float:
        return 1.0 / self.alpha


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
class Reference:
    """What a rollout step without a baseline is judged against besides the SLO: the replaced
    version's counts over its last minutes, read once as exact confidence bounds (a fixed sample:
    tighter than the anytime-valid bounds a watched count needs)."""

    counts: ClusterCounts
    error_low: float
    error_high: float
    slow_high: float
    """Upper bound on its share of requests slower than the SLO bound."""


def _no_tests() -> tuple[Paired, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class Evidence:
    """Every test's state on one change. Start with `Evidence.start`, add intervals with `add`."""

    slo: Slo
    policy: VerdictPolicy
    dispersions: Dispersions
    """The baseline side's: the service's before the change, then the baseline's."""
    candidate_dispersions: Dispersions
    normal: tuple[float, ...]
    """Per stream, the service's event rate before the change (0 when it had none)."""
    reference: Reference | None = None
    age_s: float = 0.0
    """Seconds of intervals since the candidate's first requests (the warm-up counts in): a
    warm-up is of the instance's traffic, and its first counts may come seconds after the
    change (a proxy's stats held on probation, a slow first flush)."""
    judged_s: float = 0.0
    """Seconds of intervals since the warm-up ended."""
    warmup_s: float = 0.0
    served: ClusterCounts = field(default_factory=ClusterCounts)
    """The candidate's requests and 5xx since the change, warm-up included (its cost)."""
    served_baseline: ClusterCounts | None = None
    candidate: ClusterCounts = field(default_factory=ClusterCounts)
    """The candidate's counts since the warm-up ended: what is judged."""
    baseline: ClusterCounts | None = None
    """The baseline's over the same intervals; None while no interval had one."""
    errors: Paired = field(default_factory=Paired)
    errors_pass: Paired = field(default_factory=Paired)
    latency: tuple[Paired, ...] = field(default_factory=_no_tests)
    slo_errors: Rate = field(default_factory=lambda: Rate(above=True))
    slo_latency: Rate = field(default_factory=lambda: Rate(above=True))
    pass_floor: Rate = field(default_factory=lambda: Rate(above=False))
    pass_alone: Rate = field(default_factory=lambda: Rate(above=False))
    gross: Rate = field(default_factory=lambda: Rate(above=True))
    gross_paired: Paired = field(default_factory=Paired)
    gross_baseline: bool = False

    @classmethod
    def start(
        cls,
        slo: Slo,
        policy: VerdictPolicy = VerdictPolicy(),
        *,
        prior: Dispersions | None = None,
        reference: ClusterCounts | None = None,
        warmup: bool = True,
    ) -> Evidence:
        """The evidence on a change before any interval. `prior`: the service's dispersions
        before the change (how its events come); `reference`: the replaced version's counts, for
        a rollout step that leaves no baseline; `warmup`: the change gives the instance traffic
        it had not had (else no warm-up)."""
        if prior is None or prior.slo_ms != slo.latency_p99_ms:
            prior = Dispersions.of(slo)
        ref = None
        if reference is not None:
            reference = checked(reference, "reference")
            if reference.requests > 0:
                ref = _reference(reference, slo, policy.alpha)
        latency = tuple(Paired() for _ in comparison_bounds(slo.latency_p99_ms))
        normal = tuple(d.events / d.trials if d.trials else 0.0 for d in prior.streams)
        return cls(
            slo,
            policy,
            prior,
            Dispersions.of(slo),
            normal,
            ref,
            warmup_s=policy.warmup_s if warmup else 0.0,
            latency=latency,
        )

    @property
    def warming(self) -> bool:
        return self.age_s < self.warmup_s

    @property
    def has_baseline(self) -> bool:
        return self.baseline is not None and self.baseline.requests > 0

    def add(
        self, candidate: ClusterCounts, baseline: ClusterCounts | None, seconds: float
    ) -> Evidence:
        """The evidence after one more interval of `seconds`: what the candidate and its
        baseline (None: the service has no other live instance) served in it. Raises
        InvalidCounts on counts no proxy can report."""
        candidate = checked(candidate, "candidate")
        baseline = checked(baseline, "baseline") if baseline is not None else None
        seconds = checked_seconds(seconds, "seconds")
        bounds = stream_bounds(self.slo.latency_p99_ms)
        timed_c, slow_c = slow_counts(candidate.latency, bounds)
        if baseline is not None:
            timed_b, slow_b = slow_counts(baseline.latency, bounds)
        else:
            timed_b, slow_b = 0, (0,) * len(bounds)
        modes = tuple(
            dependence_of(c, b)
            for c, b in zip(
                self.candidate_dispersions.streams, self.dispersions.streams, strict=True
            )
        )
        served_baseline = self.served_baseline
        if baseline is not None:
            served_baseline = _tally(served_baseline, baseline)
        changes: dict[str, object] = {
            "dispersions": self.dispersions.add(baseline, seconds)
            if baseline
            else self.dispersions,
            "candidate_dispersions": self.candidate_dispersions.add(candidate, seconds),
            "age_s": self.age_s + seconds if self.served.requests or candidate.requests else 0.0,
            "served": _tally(self.served, candidate),
            "served_baseline": served_baseline,
        }
        if self.warming:
            changes |= self._warmup(candidate, baseline, seconds, modes[0])
        else:
            changes |= self._judged(
                candidate, baseline, seconds, modes, (timed_c, slow_c), (timed_b, slow_b)
            )
        return replace(self, **changes)  # type: ignore[arg-type]

    def _warmup(
        self,
        candidate: ClusterCounts,
        baseline: ClusterCounts | None,
        seconds: float,
        mode: Dependence,
    ) -> dict[str, object]:
        independent = mode is Dependence.INDEPENDENT
        gross = self.gross.add(
            candidate.errors, candidate.requests, GROSS_RATE, seconds, independent
        )
        if baseline is None or baseline.requests <= 0:
            return {"gross": gross}
        share = candidate.requests / (candidate.requests + baseline.requests)
        unit = self._fail_unit(
            mode, candidate.errors + baseline.errors, candidate.requests + baseline.requests, 0
        )
        paired = self.gross_paired.add(candidate.errors, baseline.errors, share, seconds, unit)
        return {"gross": gross, "gross_paired": paired, "gross_baseline": True}

    def _judged(
        self,
        candidate: ClusterCounts,
        baseline: ClusterCounts | None,
        seconds: float,
        modes: tuple[Dependence, ...],
        cand_slow: tuple[int, tuple[int, ...]],
        base_slow: tuple[int, tuple[int, ...]],
    ) -> dict[str, object]:
        slo, policy = self.slo, self.policy
        fail_each = modes[0] is Dependence.INDEPENDENT
        pass_each = modes[0] is not Dependence.CLUMPED
        latency_mode = _jointly(modes[1:])
        allowed = allowed_error_rate(slo)
        floor = allowed * ABSOLUTE_TOLERANCE
        ref = self.reference
        fail_rate = max(allowed, ref.error_high) if ref else allowed
        alone_rate = max(policy.tolerance * ref.error_low, floor) if ref else allowed + floor
        n_c, e_c = candidate.requests, candidate.errors
        changes: dict[str, object] = {
            "judged_s": self.judged_s + seconds,
            "candidate": self.candidate + candidate,
            "slo_errors": self.slo_errors.add(e_c, n_c, fail_rate, seconds, fail_each),
            "pass_floor": self.pass_floor.add(e_c, n_c, floor, seconds, pass_each),
            "pass_alone": self.pass_alone.add(e_c, n_c, alone_rate, seconds, pass_each),
        }
        bounds = stream_bounds(slo.latency_p99_ms)
        timed_c, slow_c = cand_slow
        at = slo_bound(slo.latency_p99_ms)
        if at is not None:
            j = bounds.index(at)
            slow_rate = max(1 - SLO_QUANTILE, ref.slow_high) if ref else 1 - SLO_QUANTILE
            slow_each = latency_mode is Dependence.INDEPENDENT
            changes["slo_latency"] = self.slo_latency.add(
                slow_c[j], timed_c, slow_rate, seconds, slow_each
            )
        if baseline is not None:
            changes["baseline"] = (self.baseline or ClusterCounts()) + baseline
            n_b = baseline.requests
            if n_c + n_b > 0:
                share = n_c / (n_c + n_b)
                harm = policy.tolerance * share / (policy.tolerance * share + 1 - share)
                events = e_c + baseline.errors
                changes["errors"] = self.errors.add(
                    e_c,
                    baseline.errors,
                    share,
                    seconds,
                    self._fail_unit(modes[0], events, n_c + n_b, 0),
                )
                changes["errors_pass"] = self.errors_pass.add(
                    baseline.errors,
                    e_c,
                    1 - harm,
                    seconds,
                    self._pass_unit(modes[0], events, n_c + n_b),
                )
            timed_b, slow_b = base_slow
            if timed_c + timed_b > 0:
                share = timed_c / (timed_c + timed_b)
                compared = comparison_bounds(slo.latency_p99_ms)
                tests = []
                for test, i in zip(self.latency, compared, strict=True):
                    j = bounds.index(i)
                    unit = self._fail_unit(
                        latency_mode, slow_c[j] + slow_b[j], timed_c + timed_b, 1 + j
                    )
                    tests.append(test.add(slow_c[j], slow_b[j], share, seconds, unit))
                changes["latency"] = tuple(tests)
        return changes

    def _surge(self, events: int, trials: int, stream: int) -> bool:
        return events >= SURGE_EVENTS and events > SURGE_FACTOR * self.normal[stream] * trials

    def _fail_unit(self, mode: Dependence, events: int, trials: int, stream: int) -> Unit:
        if mode is not Dependence.INDEPENDENT:
            return "run"
        return "interval" if self._surge(events, trials, stream) else "event"

    def _pass_unit(self, mode: Dependence, events: int, trials: int) -> Unit:
        if self._surge(events, trials, 0):
            return "skip"
        return "run" if mode is Dependence.CLUMPED else "event"


def _tally(total: ClusterCounts | None, more: ClusterCounts) -> ClusterCounts:
    """Requests and 5xx summed (what a change cost; its latency is not needed)."""
    if total is None:
        return ClusterCounts(more.requests, more.errors)
    return ClusterCounts(total.requests + more.requests, total.errors + more.errors)


def _jointly(modes: tuple[Dependence, ...]) -> Dependence:
    """One mode for the nested latency streams: a pause slows requests past every bound, so
    clumping at one bound is clumping at all; a bound too far out to see many requests takes
    the mode of those that do."""
    if any(m is Dependence.CLUMPED for m in modes):
        return Dependence.CLUMPED
    if any(m is Dependence.INDEPENDENT for m in modes):
        return Dependence.INDEPENDENT
    return Dependence.UNKNOWN


def _reference(counts: ClusterCounts, slo: Slo, alpha: float) -> Reference:
    at = slo_bound(slo.latency_p99_ms)
    timed, slow = slow_counts(counts.latency, (at,)) if at is not None else (0, (0,))
    return Reference(
        counts,
        error_low=rate_bound(counts.errors, counts.requests, alpha, upper=False),
        error_high=rate_bound(counts.errors, counts.requests, alpha, upper=True),
        slow_high=(rate_bound(slow[0], timed, alpha, upper=True) if timed else 1 - SLO_QUANTILE),
    )


def rate_bound(k: int, n: int, alpha: float, *, upper: bool) -> float:
    """An exact one-sided confidence bound at level 1 - alpha on a small rate, k events in n
    trials read once (Poisson): the reference is a fixed sample, not watched as it grows."""
    if n <= 0:
        return 1.0 if upper else 0.0
    if not upper and k == 0:
        return 0.0
    # the mean mu at which P(X >= k) = alpha (lower) or P(X <= k) = alpha (upper)
    lo, hi = 0.0, max(10.0, 2.0 * k + 10.0 * math.sqrt(k + 1) + 10.0)
    for _ in range(60):
        mu = (lo + hi) / 2
        tail = 1 - _poisson_cdf(k - 1, mu) if not upper else _poisson_cdf(k, mu)
        if (tail < alpha) != upper:
            lo = mu
        else:
            hi = mu
    return min(1.0, (lo + hi) / 2 / n)


def _poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    if mu <= 0:
        return 1.0
    if k > 2000:  # a normal approximation with continuity correction is ample there
        return 0.5 * math.erfc(-((k + 0.5 - mu) / math.sqrt(mu)) / math.sqrt(2))
    log_term = -mu
    total = math.exp(log_term)
    for i in range(1, k + 1):
        log_term += math.log(mu / i)
        total += math.exp(log_term)
    return min(1.0, total)


_Say = Callable[[Outcome, str, float | None], Verdict]
"""Makes the verdict from an outcome, its reason and the expected time to a decision."""


@dataclass(frozen=True, slots=True)
class _Test:
    """A failing test as the verdict reads it: its e-value and how to say what it saw."""

    name: str
    log_e: float
    seen: Callable[[], str]
    """What it saw, in words (made only when the verdict names this test)."""

    @property
    def e_value(self) -> float:
        return math.exp(min(self.log_e, 230.0))


@dataclass(frozen=True, slots=True)
class _Arm:
    """One side's judged counts, read once: its latency quantiles and tail counts."""

    requests: int
    errors: int
    latency: Histogram
    p50_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, counts: ClusterCounts) -> _Arm:
        latency = Histogram.of(counts.latency)
        return cls(
            counts.requests,
            counts.errors,
            latency,
            latency.quantile_ms(0.5),
            latency.quantile_ms(SLO_QUANTILE),
        )

    def evidence(self) -> ArmEvidence:
        return ArmEvidence(
            requests=self.requests,
            errors=self.errors,
            error_rate=self.errors / self.requests if self.requests else None,
            p50_ms=self.p50_ms,
            p99_ms=self.p99_ms,
        )


def judge(evidence: Evidence, *, elapsed_s: float) -> Verdict:
    """The verdict the evidence supports now; `elapsed_s` is the time since the change (for the
    record). The verdict's error_e_value and latency_e_value are the tests against the baseline
    or, without one, against the SLO; its reason names the test that decided. extra_failures and
    cost are left at 0 for the caller (see `extra_failures`)."""
    elapsed_s = checked_seconds(elapsed_s, "elapsed_s")
    policy = evidence.policy
    threshold = policy.threshold
    log_t = math.log(threshold)
    cand = _Arm.of(evidence.candidate)
    judged_baseline = evidence.baseline
    base = _Arm.of(judged_baseline) if judged_baseline and judged_baseline.requests else None
    compared = base is not None

    if compared:
        assert base is not None
        errors = _Test(
            "errors against the baseline", evidence.errors.log_e, lambda: _errors_seen(cand, base)
        )
        latency = _latency_vs_baseline(evidence, cand, base)
        tests = [errors, latency]
    else:
        errors = _Test(
            "errors against the SLO",
            evidence.slo_errors.log_e,
            lambda: _slo_errors_seen(evidence, cand),
        )
        latency = _Test(
            "latency against the SLO",
            evidence.slo_latency.log_e,
            lambda: _slo_latency_seen(evidence, cand),
        )
        tests = [errors, latency]

    def verdict(outcome: Outcome, reason: str, expected_s: float | None = None) -> Verdict:
        return Verdict(
            outcome=outcome,
            reason=reason,
            candidate=cand.evidence(),
            baseline=base.evidence() if base is not None else None,
            error_e_value=errors.e_value,
            latency_e_value=latency.e_value,
            threshold=threshold,
            elapsed_s=elapsed_s,
            expected_s_to_decision=expected_s,
        )

    if evidence.warming:
        return _warmup_verdict(evidence, verdict, log_t)
    if cand.requests == 0 and cand.latency.total == 0:
        return verdict(
            Outcome.INCONCLUSIVE,
            f"inconclusive: no request has reached the candidate in {say_duration(elapsed_s)}"
            + (
                f" (after its {say_duration(evidence.warmup_s)} warm-up)"
                if evidence.warmup_s
                else ""
            )
            + ", so there is nothing to judge yet",
        )

    strongest = max(tests, key=lambda t: t.log_e)
    # the errors' and the latency's e-values averaged are one e-value: a harmless change is
    # failed with probability at most alpha in all, not alpha per test
    harm = log_mean_exp(tuple(t.log_e for t in tests))
    if harm >= log_t:
        how = _how(evidence)
        return verdict(
            Outcome.FAIL,
            f"fail: {strongest.seen()}, e-value {_e(strongest.e_value)} (with the other test's, "
            f"{_e(math.exp(min(harm, 230.0)))} >= {threshold:g}){how}",
        )

    passing, route = _pass_test(evidence, compared)
    quiet = strongest.log_e < log_t / 2  # no failing test even halfway, on the log scale
    if passing >= log_t and quiet and cand.requests >= policy.min_requests:
        return verdict(
            Outcome.PASS,
            f"pass: {route}, and no test finds the candidate worse "
            f"(p99 {_ms(cand.p99_ms)}{f' against {_ms(base.p99_ms)}' if base else ''})",
        )

    growth = [_seconds_to_cross(harm, evidence.judged_s, log_t)]
    if quiet:
        to_pass = _seconds_to_cross(passing, evidence.judged_s, log_t)
        if to_pass is not None and cand.requests < policy.min_requests and cand.requests:
            to_pass = max(to_pass, (policy.min_requests / cand.requests - 1) * evidence.judged_s)
        growth.append(to_pass)
    finite = [s for s in growth if s is not None]
    expected = min(finite) if finite else None
    if expected is not None and expected > MAX_PROJECTION_S:
        expected = None
    rate = cand.requests / evidence.judged_s if evidence.judged_s > 0 else 0.0
    when = (
        f"about {say_duration(expected)} more to a decision at {rate:.3g} requests/s"
        if expected is not None
        else "no decision in sight at the current rates"
    )
    evidence_of_harm = (
        f"the strongest evidence of harm ({strongest.name}) is an e-value of "
        f"{_e(strongest.e_value)} of {threshold:g}"
        if strongest.log_e > 0
        else "no evidence of harm"
    )
    allowed = allowed_error_rate(evidence.slo)
    against = (
        f"the baseline's {_rate(base.errors, base.requests)}"
        if base is not None
        else f"the SLO's allowed {_pct(allowed)}"
    )
    breach = ""
    if (
        base is not None
        and evidence.slo_errors.log_e >= log_t
        and base.errors > allowed * base.requests
    ):
        breach = (
            "; both are over the SLO, which is the service's trouble, not this change's "
            "(the error budget's freeze guards the service)"
        )
    return verdict(
        Outcome.INCONCLUSIVE,
        f"inconclusive: 5xx rate {_rate(cand.errors, cand.requests)} against {against}, "
        f"p99 {_ms(cand.p99_ms)}{breach}; {evidence_of_harm}; {when}",
        expected,
    )


def _warmup_verdict(evidence: Evidence, verdict: _Say, log_t: float) -> Verdict:
    gross = evidence.gross.log_e
    if evidence.gross_baseline:
        gross = min(gross, evidence.gross_paired.log_e)
    served = evidence.served
    if gross >= log_t:
        base = evidence.served_baseline
        against = (
            f" against the baseline's {_rate(base.errors, base.requests)}"
            if base is not None and base.requests
            else ""
        )
        return verdict(
            Outcome.FAIL,
            f"fail during the warm-up: 5xx rate {_rate(served.errors, served.requests)}"
            f"{against}, above the {_pct(GROSS_RATE)} that fails a warming instance, e-value "
            f"{_e(math.exp(min(gross, 230.0)))} >= {evidence.policy.threshold:g}",
            None,
        )
    left = max(0.0, evidence.warmup_s - evidence.age_s)
    return verdict(
        Outcome.INCONCLUSIVE,
        f"inconclusive: warming up ({say_duration(evidence.age_s)} of "
        f"{say_duration(evidence.warmup_s)}, 5xx rate {_rate(served.errors, served.requests)}"
        f"): only a 5xx rate above {_pct(GROSS_RATE)} fails until then, and the other tests "
        "start after it",
        left,
    )


def _pass_test(evidence: Evidence, compared: bool) -> tuple[float, str]:
    """The passing evidence (log e-value) and, in words, what it shows."""
    policy, slo = evidence.policy, evidence.slo
    cand = evidence.candidate
    allowed = allowed_error_rate(slo)
    floor = allowed * ABSOLUTE_TOLERANCE
    confidence = f"with {100 * (1 - policy.alpha):g}% confidence"
    if compared:
        base = evidence.baseline
        assert base is not None
        ratio, absolute = evidence.errors_pass.log_e, evidence.pass_floor.log_e
        if ratio >= absolute:
            return ratio, (
                f"{confidence} the 5xx rate {_rate(cand.errors, cand.requests)} is less than "
                f"{policy.tolerance:g} times the baseline's {_rate(base.errors, base.requests)} "
                "(the service's tolerance)"
            )
        return absolute, (
            f"{confidence} the 5xx rate {_rate(cand.errors, cand.requests)} is under "
            f"{_pct(floor)} (half the SLO's allowed {_pct(allowed)}), "
            f"whatever the baseline's {_rate(base.errors, base.requests)}"
        )
    ref = evidence.reference
    if ref is not None:
        bound = max(policy.tolerance * ref.error_low, floor)
        against = (
            f"the replaced version's {_rate(ref.counts.errors, ref.counts.requests)} before this "
            f"step (times the tolerance of {policy.tolerance:g}, allowing for its sampling error)"
        )
    else:
        bound = allowed + floor
        against = f"the SLO's allowed {_pct(allowed)} (plus {_pct(floor)})"
    return evidence.pass_alone.log_e, (
        f"{confidence} the 5xx rate {_rate(cand.errors, cand.requests)} is under {_pct(bound)}, "
        f"from {against}"
    )


def _how(evidence: Evidence) -> str:
    """How the errors were weighed, when they were not one by one."""
    mode = dependence_of(evidence.candidate_dispersions.streams[0], evidence.dispersions.streams[0])
    if mode is Dependence.INDEPENDENT:
        return ""
    return (
        " (errors weighed per burst: this service's errors come in clumps)"
        if (mode is Dependence.CLUMPED)
        else " (errors weighed per burst until they are shown to come one by one)"
    )


def _errors_seen(cand: _Arm, base: _Arm) -> str:
    return (
        f"5xx rate {_rate(cand.errors, cand.requests)} against the baseline's "
        f"{_rate(base.errors, base.requests)} over the same intervals"
    )


def _latency_vs_baseline(evidence: Evidence, cand: _Arm, base: _Arm) -> _Test:
    compared = comparison_bounds(evidence.slo.latency_p99_ms)
    logs = tuple(test.log_e for test in evidence.latency)
    j = max(range(len(logs)), key=lambda i: logs[i])
    i = compared[j]

    def seen() -> str:
        slow_c, slow_b = cand.latency.slower_than(i), base.latency.slower_than(i)
        return (
            f"{_rate(slow_c, cand.latency.total)} of requests slower than "
            f"{LATENCY_BOUNDS_MS[i]:g} ms against the baseline's "
            f"{_rate(slow_b, base.latency.total)} (p99 {_ms(cand.p99_ms)} against "
            f"{_ms(base.p99_ms)})"
        )

    return _Test("latency against the baseline", log_mean_exp(logs), seen)


def _slo_errors_seen(evidence: Evidence, cand: _Arm) -> str:
    slo = evidence.slo
    seen = (
        f"5xx rate {_rate(cand.errors, cand.requests)} against the SLO's allowed "
        f"{_pct(allowed_error_rate(slo))} (success rate {slo.success_rate:g}%)"
    )
    ref = evidence.reference
    if ref is not None:
        seen += (
            f" and the replaced version's {_rate(ref.counts.errors, ref.counts.requests)} "
            "before this step"
        )
    return seen


def _slo_latency_seen(evidence: Evidence, cand: _Arm) -> str:
    slo = evidence.slo
    at = slo_bound(slo.latency_p99_ms)
    if at is None:
        return f"p99 {_ms(cand.p99_ms)} against the SLO's p99 of {slo.latency_p99_ms:g} ms"
    slow = cand.latency.slower_than(at)
    return (
        f"{_rate(slow, cand.latency.total)} of requests slower than {LATENCY_BOUNDS_MS[at]:g} ms "
        f"(p99 {_ms(cand.p99_ms)}) against the SLO's p99 of {slo.latency_p99_ms:g} ms"
    )


def _seconds_to_cross(log_e: float, seconds: float, log_t: float) -> float | None:
    """How much longer until `log_e` reaches `log_t`, at the average rate it has grown so far."""
    if log_e >= log_t:
        return 0.0
    if log_e <= 0 or seconds <= 0:
        return None
    return (log_t - log_e) * seconds / log_e


# Saying it.


def _rate(k: int, n: int) -> str:
    return f"{_pct(k / n)} ({k:,} of {n:,})" if n else "- (0 requests)"


def _pct(x: float) -> str:
    return "0%" if x == 0 else f"{100 * x:.2g}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def _e(value: float) -> str:
    return f"{value:.3g}" if value < 1e6 else f"{value:.2e}"


__all__ = ["Evidence", "InvalidCounts", "VerdictPolicy", "judge"]
