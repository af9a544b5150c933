"""The evaluator on synthetic traffic: how fast a harmful change is failed, how rarely a harmless
one is -- with clumped errors, shared incidents, warm-ups and rollout steps -- against Wald's SPRT
and Flagger's documented rule on the same traffic.

Seeded and self-contained (no Envoy, no network). Each run simulates the service second by
second: a candidate instance and the baseline's instances, Poisson traffic, 5xx that are
independent or come in clumps (a clump of 5 to 20 consecutive requests of one instance), blips
and outages shared by every instance, log-normal latencies binned into Envoy's buckets. Before
the change, `HISTORY_S` seconds of the service's traffic teach weir how its events come (as the
evaluator learns it from the stats it reads every second). Every simulated second the
evaluator's check adds the last interval to `controlplane.verdict.Evidence` and runs `judge`, on
counts one second late (Envoy's 1 s stats flush): the check at t sees seconds 1 .. t-1. A run
ends at weir's first pass or fail, as the evaluator closes a change then, or at the horizon.

Beside weir, on the very same traffic (detection scenarios):

- Wald's SPRT for the scenario's rates and alpha (beta = alpha), knowing both rates exactly,
  run on the candidate's counts with the same one-second checks and flush delay;
- Flagger's documented analysis: every minute, the candidate's success rate over that minute
  must be at least 99% and its p99 at most 500 ms; the 5th failed check rolls back.

    python -m bench.evaluator_sim [--runs 1000] [--seed 1] [--workers 2] [--only NAME]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import (
    DEFAULT_STEPS,
    Activation,
    Canary,
    Instance,
    Outcome,
    RolloutStarted,
    ServiceSpec,
    Slo,
)
from controlplane.rollout import plan_for, propose_start
from controlplane.stats import LATENCY_BOUNDS_MS, ClusterCounts
from controlplane.verdict import (
    Dispersions,
    Evidence,
    Traffic,
    VerdictPolicy,
    judge,
    quantile_ms,
    seconds_to_pass,
)

FLUSH_S = 1
HORIZON_S = 600
HISTORY_S = 300
REFERENCE_S = 900
ALPHA = 0.01
CLUMP = (5, 20)
"""A clump fails this many consecutive requests of one instance (uniformly)."""
FLAGGER_INTERVAL_S = 60
FLAGGER_MIN_SUCCESS_PERCENT = 99.0
FLAGGER_MAX_P99_MS = 500.0
FLAGGER_THRESHOLD = 5

GOAL_FAST_S = 5.0
GOAL_LATENCY_S = 10.0
GOAL_SPRT_RATIO = 2.0
GOAL_FALSE_ROLLBACKS = 0.01
GOAL_STEP_PASS = 0.95
GOAL_STEP_HARMFUL_PASS = 0.01


# Traffic.


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def lognormal_buckets(median_ms: float, p99_ms: float) -> tuple[float, ...]:
    """Probability of each Envoy latency bucket for a log-normal latency."""
    sigma = math.log(p99_ms / median_ms) / 2.3263478740408408
    cdf = [_normal_cdf(math.log(b / median_ms) / sigma) for b in LATENCY_BOUNDS_MS]
    edges = [0.0, *cdf, 1.0]
    return tuple(hi - lo if hi - lo > 1e-12 else 0.0 for lo, hi in itertools.pairwise(edges))


def mixed(a: Sequence[float], b: Sequence[float], b_share: float) -> tuple[float, ...]:
    return tuple((1 - b_share) * x + b_share * y for x, y in zip(a, b, strict=True))


HEALTHY = lognormal_buckets(40.0, 150.0)
SLOWER = lognormal_buckets(60.0, 225.0)  # every request 1.5 times slower: p99 150 -> 225 ms
TWICE = lognormal_buckets(80.0, 300.0)  # every request twice as slow
# 0.88% of requests turn slow (log-normal, median 400 ms): p99 150 -> 225 ms, median unchanged
SLOW_TAIL = mixed(HEALTHY, lognormal_buckets(400.0, 800.0), 0.0088)
SLOW_SLOT = 8
"""Where a request slowed by a pause lands: the 250-500 ms bucket."""
SLO = Slo(success_rate=99.9, latency_p99_ms=300)


@dataclass(frozen=True, slots=True)
class Phase:
    """From `start_s` (seconds since the change) on, the arm behaves so."""

    start_s: float
    error_rate: float | None = None
    buckets: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Arm:
    rps: float
    """All of the arm's instances together."""
    error_rate: float = 0.001
    """Independent 5xx, per request."""
    clumped_rate: float = 0.0
    """5xx in clumps of CLUMP consecutive requests of one instance, per request."""
    slow_clumped_rate: float = 0.0
    """Pauses that slow CLUMP consecutive requests of one instance (to 250-500 ms)."""
    instances: int = 1
    buckets: tuple[float, ...] = HEALTHY
    phases: tuple[Phase, ...] = ()


@dataclass(frozen=True, slots=True)
class Shared:
    """What hits every instance at once."""

    blip_rate: float = 0.0
    """5xx from downstream blips, per request; a blip fails every request of every instance for
    as long as CLUMP requests take at `blip_rps`."""
    blip_rps: float = 10.0
    outage: tuple[float, float, float] | None = None
    """(start, seconds, 5xx rate) since the change."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: str
    """"detect" (a harmful change, time to fail), "aa" (harmless, false rollbacks), "step" (a
    rollout step: pass within the horizon)."""
    candidate: Arm
    baseline: Arm | None
    slo: Slo = SLO
    shared: Shared = Shared()
    warmup_s: float = VerdictPolicy().warmup_s
    new_instance: bool = True
    reference: Arm | None = None
    """A step without a baseline: the replaced version, as served over REFERENCE_S before it."""
    horizon_s: int = HORIZON_S
    tolerance: float = 5.0
    sprt: tuple[float, float] | None = None
    """(H1, H0) 5xx rates for Wald's SPRT; None: the latency SPRT (or none for steps)."""
    note: str = ""
    share: float = field(default=0.0)
    default_step: bool = True
    """A rollout step: one of weir's default steps at this traffic (the goals are about those;
    the steps it leaves out are simulated too, to show why)."""

    @property
    def policy(self) -> VerdictPolicy:
        return VerdictPolicy(alpha=ALPHA, tolerance=self.tolerance, warmup_s=self.warmup_s)


def _poisson_cdf(mean: float) -> list[float]:
    cdf: list[float] = []
    total, term, k = 0.0, math.exp(-mean), 0
    while total < 1 - 1e-12 and k < 10_000:
        total += term
        cdf.append(total)
        k += 1
        term *= mean / k
    cdf[-1] = 1.0
    return cdf


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 200:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if p >= 0.1:
        if n > 200:
            return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))
        return sum(rng.random() < p for _ in range(n))
    count, position, log_q = 0, -1, math.log1p(-p)
    while True:  # jump from one success to the next: geometric gaps
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position >= n:
            return count
        count += 1


RARE_PER_S = 1e-4
"""Buckets an arm would see a request in less often than once in ~3 hours are left empty."""


class _Samplers:
    def __init__(self, rps: float, buckets: tuple[float, ...]) -> None:
        self.cdfs = [
            (i, _poisson_cdf(rps * p)) for i, p in enumerate(buckets) if rps * p > RARE_PER_S
        ]


class _Blips:
    """Shared downstream blips: each second, the fraction of it that some blip covers."""

    def __init__(self, shared: Shared, rng: random.Random) -> None:
        mean_s = (CLUMP[0] + CLUMP[1]) / 2 / shared.blip_rps
        self.starts_per_s = shared.blip_rate / mean_s if shared.blip_rate else 0.0
        self.rps = shared.blip_rps
        self.rng = rng
        self.until = -math.inf

    def covered(self, second: float) -> float:
        """The share of [second, second + 1) inside a blip."""
        rng = self.rng
        covered = max(0.0, min(1.0, self.until - second))
        for _ in range(_poisson(rng, self.starts_per_s)):
            start = second + rng.random()
            length = rng.randint(*CLUMP) / self.rps
            self.until = max(self.until, start + length)
            covered = max(covered, min(1.0, self.until - second) - (start - second))
        return min(1.0, covered)


class _ArmTraffic:
    """One arm's traffic, second by second, kept as this second's and cumulative counts."""

    def __init__(self, arm: Arm, rng: random.Random) -> None:
        self.arm = arm
        self.rng = rng
        self._samplers: dict[tuple[float, ...], _Samplers] = {}
        self.pending = [0] * arm.instances
        self.pending_slow = [0] * arm.instances
        self.requests = self.errors = 0
        self.last = ClusterCounts()
        self.last_latency = [0] * len(arm.buckets)

    def _samplers_for(self, buckets: tuple[float, ...]) -> _Samplers:
        if buckets not in self._samplers:
            self._samplers[buckets] = _Samplers(self.arm.rps, buckets)
        return self._samplers[buckets]

    def tick(self, t: float, covered: float, outage_rate: float) -> ClusterCounts:
        """Second [t, t + 1) since the change; `covered`: its share inside a shared blip."""
        arm, rng = self.arm, self.rng
        error_rate, buckets = arm.error_rate, arm.buckets
        for phase in arm.phases:
            if t >= phase.start_s:
                error_rate = phase.error_rate if phase.error_rate is not None else error_rate
                buckets = phase.buckets if phase.buckets is not None else buckets
        latency = [0] * len(buckets)
        served = 0
        uniform = rng.random
        for i, cdf in self._samplers_for(buckets).cdfs:
            count = bisect.bisect_left(cdf, uniform())
            latency[i] = count
            served += count
        errors = _binomial(rng, served, error_rate)
        if outage_rate:
            errors += _binomial(rng, served - errors, outage_rate)
        if covered:
            errors += _binomial(rng, served - errors, covered)
        if arm.clumped_rate or any(self.pending):
            errors += self._clumps(served, self.pending, arm.clumped_rate, served - errors)
        if arm.slow_clumped_rate or any(self.pending_slow):
            slow = self._clumps(served, self.pending_slow, arm.slow_clumped_rate, served)
            for _ in range(slow):
                j = max(range(len(latency)), key=lambda k: latency[k])
                if j >= SLOW_SLOT or not latency[j]:
                    break
                latency[j] -= 1
                latency[SLOW_SLOT] += 1
        errors = min(errors, served)
        self.requests += served
        self.errors += errors
        self.last_latency = latency
        self.last = ClusterCounts(served, errors, tuple(latency))
        return self.last

    def _clumps(self, served: int, pending: list[int], rate: float, room: int) -> int:
        """Clumped events this second: what earlier clumps still owe, then new clumps, each of
        one instance, taking that instance's next CLUMP requests from where it starts."""
        rng, instances = self.rng, len(pending)
        per_instance = served / instances
        events = 0
        for i, owed in enumerate(pending):
            if owed:
                take = min(owed, round(per_instance))
                events += take
                pending[i] = owed - take
        mean = (CLUMP[0] + CLUMP[1]) / 2
        for _ in range(_poisson(rng, self.arm.rps * rate / mean)):
            i = rng.randrange(instances)
            size = rng.randint(*CLUMP)
            take = min(size, round(per_instance * (1 - rng.random())))
            events += take
            pending[i] += size - take
        return min(events, room)


# The rules.


def _log_bounds(alpha: float, beta: float) -> tuple[float, float]:
    return math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))


def _sprt_design(scenario: Scenario) -> tuple[str, list[float], list[float]] | None:
    if scenario.kind == "step":
        return None
    if scenario.sprt is not None:
        h1, h0 = scenario.sprt
        return "errors", [h1, 1 - h1], [h0, 1 - h0]
    base = scenario.baseline
    assert base is not None
    buckets = scenario.candidate.buckets
    for phase in scenario.candidate.phases:
        buckets = phase.buckets or buckets
    return "latency", list(buckets), list(base.buckets)


def wald_expected_requests(scenario: Scenario, alpha: float = ALPHA) -> float | None:
    """Wald's approximation of the SPRT's expected sample size when H1 holds."""
    design = _sprt_design(scenario)
    if design is None:
        return None
    _, h1, h0 = design
    kl = sum(p * math.log(p / q) for p, q in zip(h1, h0, strict=True) if p > 0 and q > 0)
    upper, lower = _log_bounds(alpha, alpha)
    return ((1 - alpha) * upper + alpha * lower) / kl if kl > 0 else None


@dataclass(frozen=True, slots=True)
class Decision:
    """When a rule decided (seconds since the change, candidate requests it had seen)."""

    at_s: int
    requests: int


@dataclass(frozen=True, slots=True)
class RunResult:
    weir: Decision | None
    """weir's fail (a rollback)."""
    weir_passed: Decision | None
    sprt: Decision | None
    flagger: Decision | None


def _history(scenario: Scenario, rng: random.Random) -> Dispersions:
    """How the service's events came before the change: all its traffic, on the baseline's
    instances (a rollout step's candidate had its share already, behaving as after)."""
    base = scenario.baseline or scenario.reference or scenario.candidate
    if scenario.new_instance or scenario.kind != "step":
        arm = replace(
            base,
            rps=base.rps + scenario.candidate.rps,
            instances=base.instances + 1,
            phases=(),
        )
        arms = [_ArmTraffic(arm, rng)]
    else:
        arms = [_ArmTraffic(replace(scenario.candidate, phases=()), rng)]
        arms += [_ArmTraffic(base, rng)] if scenario.baseline else []
    blips = _Blips(scenario.shared, rng)
    dispersions = Dispersions.of(scenario.slo)
    for t in range(-HISTORY_S, 0):
        covered = blips.covered(t)
        total = ClusterCounts()
        for arm_traffic in arms:
            total = total + arm_traffic.tick(t, covered, 0.0)
        dispersions = dispersions.add(total, 1.0)
    return dispersions


def _reference_counts(scenario: Scenario, rng: random.Random) -> ClusterCounts | None:
    if scenario.reference is None:
        return None
    arm = _ArmTraffic(scenario.reference, rng)
    blips = _Blips(scenario.shared, rng)
    for t in range(-REFERENCE_S, 0):
        arm.tick(t, blips.covered(t), 0.0)
    return ClusterCounts(arm.requests, arm.errors)


def simulate(scenario_index: int, run: int, seed: int) -> RunResult:
    """One run. The check at time t (seconds since the change) sees seconds 1 .. t - 1: every
    rule reads what Envoy flushed a second ago."""
    scenario = SCENARIOS[scenario_index]
    rng = random.Random(f"{seed}/{scenario.name}/{run}")
    prior = _history(scenario, rng)
    reference = _reference_counts(scenario, rng)
    cand = _ArmTraffic(scenario.candidate, rng)
    base = _ArmTraffic(scenario.baseline, rng) if scenario.baseline else None
    blips = _Blips(scenario.shared, rng)
    outage = scenario.shared.outage
    evidence = Evidence.start(
        scenario.slo,
        scenario.policy,
        prior=prior,
        reference=reference,
        warmup=scenario.new_instance,
    )
    design = _sprt_design(scenario)
    if design is not None:
        kind, h1, h0 = design
        log_ratio = [
            math.log(p / q) if p > 0 and q > 0 else 0.0 for p, q in zip(h1, h0, strict=True)
        ]
    sprt_upper, sprt_lower = _log_bounds(ALPHA, ALPHA)
    sprt_llr = 0.0
    weir = passed = sprt = flagger = None
    weir_open, sprt_open, flagger_open = True, design is not None, scenario.kind != "step"
    flagger_failed = 0
    window_requests = window_errors = 0
    window_latency = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    horizon = scenario.horizon_s
    last_flagger_check = (horizon - FLUSH_S) // FLAGGER_INTERVAL_S
    cand_last: ClusterCounts | None = None
    base_last: ClusterCounts | None = None
    for t in range(1, horizon + 1):
        data_s = t - FLUSH_S  # seconds of traffic the checks at time t can see
        if weir_open and cand_last is not None:
            evidence = evidence.add(cand_last, base_last, 1.0)
            verdict = judge(evidence, elapsed_s=float(t))
            if verdict.outcome is Outcome.FAIL:
                weir, weir_open = Decision(t, cand.requests - cand_last.requests), False
            elif verdict.outcome is Outcome.PASS:
                passed, weir_open = Decision(t, cand.requests - cand_last.requests), False
        if sprt_open and data_s > 0:
            if sprt_llr >= sprt_upper:
                sprt, sprt_open = Decision(t, cand.requests), False
            elif sprt_llr <= sprt_lower:
                sprt_open = False
        if flagger_open and data_s > 0 and data_s % FLAGGER_INTERVAL_S == 0:
            success = 100.0 * (1 - window_errors / window_requests) if window_requests else 0.0
            p99 = quantile_ms(window_latency, 0.99) or 0.0
            if success < FLAGGER_MIN_SUCCESS_PERCENT or p99 > FLAGGER_MAX_P99_MS:
                flagger_failed += 1
            if flagger_failed >= FLAGGER_THRESHOLD:
                flagger, flagger_open = Decision(t, cand.requests), False
            elif flagger_failed + last_flagger_check - data_s // FLAGGER_INTERVAL_S < (
                FLAGGER_THRESHOLD
            ):
                flagger_open = False  # too few checks left to reach the threshold
            window_requests = window_errors = 0
            window_latency = [0] * len(window_latency)
        if not (weir_open or sprt_open or flagger_open):
            break
        second = t - 1  # second t: [t - 1, t) since the change
        covered = blips.covered(second)
        outage_rate = 0.0
        if outage is not None and outage[0] <= second < outage[0] + outage[1]:
            outage_rate = outage[2]
        cand_last = cand.tick(second, covered, outage_rate)
        base_last = base.tick(second, covered, outage_rate) if base else None
        window_requests += cand_last.requests
        window_errors += cand_last.errors
        for i, count in enumerate(cand_last.latency):
            window_latency[i] += count
        if design is not None and sprt_open:
            if kind == "errors":
                e = cand_last.errors
                sprt_llr += e * log_ratio[0] + (cand_last.requests - e) * log_ratio[1]
            else:
                sprt_llr += sum(c * r for c, r in zip(cand.last_latency, log_ratio, strict=False))
    return RunResult(weir, passed, sprt, flagger)


# The scenarios of issue 13, and the earlier ones.


def _aa_clumps(rps: float, rate: float, slo: Slo = SLO) -> tuple[Arm, Arm]:
    return (
        Arm(rps, error_rate=0.0, clumped_rate=rate),
        Arm(9 * rps, error_rate=0.0, clumped_rate=rate, instances=9),
    )


def _scenarios() -> tuple[Scenario, ...]:
    base = Arm(90.0, 0.001, instances=9)
    slo99 = Slo(success_rate=99.0, latency_p99_ms=300)
    scenarios: list[Scenario] = [
        Scenario("20% vs 0.1% 5xx", "detect", Arm(10.0, 0.20), base, sprt=(0.2, 0.001)),
        Scenario(
            "20% vs 0.1% 5xx, a serving instance's weight step (no warm-up)",
            "detect",
            Arm(10.0, 0.20),
            base,
            new_instance=False,
            sprt=(0.2, 0.001),
        ),
        Scenario("1% vs 0.1% 5xx", "detect", Arm(10.0, 0.01), base, sprt=(0.01, 0.001)),
        Scenario(
            "1% vs 0.1% 5xx, SLO 99%",
            "detect",
            Arm(10.0, 0.01),
            base,
            slo=slo99,
            sprt=(0.01, 0.001),
        ),
        Scenario("latency 2x (p99 150 -> 300 ms)", "detect", Arm(10.0, buckets=TWICE), base),
        Scenario("p99 +50%, all requests 1.5x", "detect", Arm(10.0, buckets=SLOWER), base),
        Scenario("p99 +50%, slowest 0.9% only", "detect", Arm(10.0, buckets=SLOW_TAIL), base),
        Scenario(
            "1% vs 0.1% starting 10 s into a shared 30 s outage at 50%",
            "detect",
            Arm(10.0, 0.001, phases=(Phase(20.0, error_rate=0.01),)),
            base,
            shared=Shared(outage=(10.0, 30.0, 0.5)),
            sprt=(0.01, 0.001),
        ),
        Scenario("A/A, independent 0.1% 5xx", "aa", Arm(10.0, 0.001), base, sprt=(0.01, 0.001)),
        Scenario(
            "A/A, 0.1% 5xx in own clumps, 10 rps",
            "aa",
            *_aa_clumps(10.0, 0.001),
            sprt=(0.01, 0.001),
        ),
        Scenario(
            "A/A, 0.1% 5xx in own clumps, 100 rps",
            "aa",
            *_aa_clumps(100.0, 0.001),
            sprt=(0.01, 0.001),
        ),
        Scenario(
            "A/A, 0.02% 5xx in own clumps, 100 rps",
            "aa",
            *_aa_clumps(100.0, 0.0002),
            sprt=(0.002, 0.0002),
        ),
        Scenario(
            "A/A, 1% 5xx in own clumps, SLO 99%, 100 rps",
            "aa",
            *_aa_clumps(100.0, 0.01),
            slo=slo99,
            sprt=(0.1, 0.01),
        ),
        Scenario(
            "A/A, 0.1% 5xx in shared blips, 10 rps",
            "aa",
            Arm(10.0, 0.0),
            Arm(90.0, 0.0, instances=9),
            shared=Shared(blip_rate=0.001, blip_rps=10.0),
            sprt=(0.01, 0.001),
        ),
        Scenario(
            "A/A, 0.1% 5xx in shared blips, 100 rps",
            "aa",
            Arm(100.0, 0.0),
            Arm(900.0, 0.0, instances=9),
            shared=Shared(blip_rate=0.001, blip_rps=100.0),
            sprt=(0.01, 0.001),
        ),
        Scenario(
            "A/A, shared outage: 30 s at 50% 5xx",
            "aa",
            Arm(10.0, 0.001),
            base,
            shared=Shared(outage=(20.0, 30.0, 0.5)),
            sprt=(0.01, 0.001),
        ),
        Scenario(
            "A/A, shared outage: 5 s at 20% 5xx",
            "aa",
            Arm(10.0, 0.001),
            base,
            shared=Shared(outage=(20.0, 5.0, 0.2)),
            sprt=(0.01, 0.001),
        ),
        Scenario(
            "A/A after a warm-up: first 30 s at 2x latency (warmup: 30s)",
            "aa",
            Arm(10.0, 0.001, buckets=TWICE, phases=(Phase(30.0, buckets=HEALTHY),)),
            base,
            warmup_s=30.0,
        ),
        Scenario(
            "A/A, the whole service at 1% 5xx, SLO 99.9%",
            "aa",
            Arm(10.0, 0.01),
            Arm(90.0, 0.01, instances=9),
            sprt=(0.1, 0.01),
        ),
        Scenario(
            "A/A, latency pauses: 1% of requests slowed in own clumps",
            "aa",
            Arm(10.0, 0.001, slow_clumped_rate=0.01),
            Arm(90.0, 0.001, slow_clumped_rate=0.01, instances=9),
        ),
    ]
    # A canary at weir's default steps of a 100 requests/s service, one instance per version:
    # the steps `weir rollout start` fits to that traffic, and those it leaves out.
    fitted = default_steps(Traffic(100.0, 0.001))
    for harmful in (False, True):
        rate = 0.005 if harmful else 0.001
        what = "5x worse (0.5% vs 0.1%)" if harmful else "identical (0.1%)"
        for percent in (p for p in DEFAULT_STEPS if p < 100):
            kept = percent in fitted
            scenarios.append(
                Scenario(
                    f"step {percent:g}% of 100 rps, {what}"
                    + ("" if kept else " (left out of weir's default steps at this traffic)"),
                    "step",
                    Arm(percent, rate),
                    Arm(100.0 - percent, 0.001),
                    new_instance=percent <= fitted[0],
                    share=percent / 100,
                    default_step=kept,
                )
            )
        scenarios.append(
            Scenario(
                f"step 100% (old instance out, no baseline) of 100 rps, {what}",
                "step",
                Arm(100.0, rate),
                None,
                new_instance=False,
                reference=Arm(50.0, 0.001),
                share=1.0,
            )
        )
    return tuple(scenarios)


def default_steps(traffic: Traffic) -> tuple[float, ...]:
    """The steps `weir rollout start` takes when nobody names any, for a service of one old
    and one new instance at `traffic`: weir's own fitting, on an in-memory ledger."""
    controller = Controller(SqliteStore(":memory:"))
    controller.apply_service(ServiceSpec(name="web"), actor="sim")
    for instance_id, version in (("a", "v1"), ("c", "v2")):
        instance = Instance(id=instance_id, service="web", version=version, address="10.0.0.1:80")
        controller.add_instance(instance, actor="sim")
    controller.change("a", Activation.live(1), actor="sim")
    plan = plan_for(controller.state.services["web"])
    entry = propose_start(
        controller.state, "web", "v2", plan, actor="sim", traffic=traffic, fit_steps=True
    )
    event = entry.event
    assert isinstance(event, RolloutStarted) and isinstance(event.plan, Canary)
    return event.plan.steps


SCENARIOS = _scenarios()


# Running and reporting.


def _simulate_task(task: tuple[int, int, int]) -> tuple[int, RunResult]:
    scenario_index, run, seed = task
    return scenario_index, simulate(scenario_index, run, seed)


def run_all(
    runs: int, seed: int, workers: int, only: Sequence[int] | None = None
) -> dict[int, list[RunResult]]:
    chosen = list(only) if only is not None else list(range(len(SCENARIOS)))
    tasks = [(i, run, seed) for i in chosen for run in range(runs)]
    results: dict[int, list[RunResult]] = {i: [] for i in chosen}
    if workers <= 1:
        for task in tasks:
            index, result = _simulate_task(task)
            results[index].append(result)
        return results
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for index, result in pool.imap_unordered(_simulate_task, tasks, chunksize=8):
            results[index].append(result)
    return results


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a share k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k / n:.1%} ({k}/{n}, 95% CI {lo:.1%}-{hi:.1%})"


def _p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _times(decisions: Sequence[Decision | None]) -> str:
    made = [d.at_s for d in decisions if d is not None]
    if not made:
        return "-"
    return (
        f"median {statistics.median(made):.0f} s, mean {statistics.fmean(made):.1f} s, "
        f"p95 {_p(made, 0.95):.0f} s"
    )


@dataclass(frozen=True, slots=True)
class Goal:
    text: str
    met: bool


def forecast(scenario: Scenario) -> float | None:
    """weir's own forecast of the time to pass for an identical candidate at this step."""
    base = scenario.baseline
    total = scenario.candidate.rps + (base.rps if base else 0.0)
    rate = (base or scenario.reference or scenario.candidate).error_rate
    reference = scenario.reference.rps * REFERENCE_S if scenario.reference else None
    seconds = seconds_to_pass(
        Traffic(total, rate),
        scenario.share,
        scenario.slo,
        scenario.policy,
        baseline=base is not None,
        reference_requests=reference,
    )
    if seconds is None:
        return None
    return seconds + (scenario.warmup_s if scenario.new_instance else 0.0) + FLUSH_S


def report(results: dict[int, list[RunResult]], runs: int, seed: int) -> tuple[str, bool]:
    lines = [
        f"evaluator_sim: {runs:,} runs per scenario (seed {seed}); a check every 1 s on stats "
        f"flushed {FLUSH_S} s late; alpha {ALPHA:g}; {HISTORY_S} s of the service's traffic "
        f"before each change; a run ends at weir's pass or fail or after {HORIZON_S} s",
        "unless noted: SLO 99.9% / p99 300 ms; candidate 10 rps beside 9 baseline instances of "
        "10 rps; 0.1% 5xx; latency log-normal, median 40 ms, p99 150 ms; clumps of 5-20 "
        "consecutive requests; a new instance's warm-up the default; tolerance 5",
        "",
    ]
    goals: list[Goal] = []
    named = {SCENARIOS[i].name: i for i in results}

    def rows(index: int) -> list[RunResult]:
        return results[index]

    lines.append("Harmful changes: time to a rollback")
    for index in sorted(results):
        scenario = SCENARIOS[index]
        if scenario.kind != "detect":
            continue
        rs = rows(index)
        caught = sum(r.weir is not None for r in rs)
        expected = wald_expected_requests(scenario)
        wald = f", Wald E[N] {expected / scenario.candidate.rps:.1f} s" if expected else ""
        lines += [
            f"  {scenario.name}",
            f"    weir:    rolled back {_share(caught, len(rs))}; {_times([r.weir for r in rs])}",
            f"    SPRT:    rolled back {_share(sum(r.sprt is not None for r in rs), len(rs))}; "
            f"{_times([r.sprt for r in rs])}{wald}",
            f"    Flagger: rolled back {_share(sum(r.flagger is not None for r in rs), len(rs))}; "
            f"{_times([r.flagger for r in rs])}",
        ]
    lines.append("")
    lines.append("Harmless changes: false rollbacks")
    for index in sorted(results):
        scenario = SCENARIOS[index]
        if scenario.kind != "aa":
            continue
        rs = rows(index)
        failed = [r.weir for r in rs if r.weir is not None]
        after_warmup = [d for d in failed if d.at_s > scenario.warmup_s + FLUSH_S]
        passed = sum(r.weir_passed is not None for r in rs)
        extra = (
            f"; after the warm-up window: {len(after_warmup)}"
            if scenario.warmup_s > VerdictPolicy().warmup_s
            else ""
        )
        lines += [
            f"  {scenario.name}",
            f"    weir:    false rollbacks {_share(len(failed), len(rs))}{extra}; passed "
            f"{passed / len(rs):.1%}, {_times([r.weir_passed for r in rs])}",
            f"    Flagger: false rollbacks "
            f"{_share(sum(r.flagger is not None for r in rs), len(rs))}",
        ]
        goals.append(
            Goal(
                f"{scenario.name}: false rollbacks {_share(len(failed), len(rs))} <= "
                f"{GOAL_FALSE_ROLLBACKS:.0%}",
                len(failed) / len(rs) <= GOAL_FALSE_ROLLBACKS,
            )
        )
    lines.append("")
    lines.append(
        "Rollout steps: passed within 10 minutes (weir's forecast for an identical canary)"
    )
    for index in sorted(results):
        scenario = SCENARIOS[index]
        if scenario.kind != "step":
            continue
        rs = rows(index)
        passes = [r.weir_passed for r in rs if r.weir_passed is not None]
        fails = sum(r.weir is not None for r in rs)
        expected = forecast(scenario)
        said = f"{expected / 60:.1f} min" if expected is not None else "never"
        lines.append(
            f"  {scenario.name}: passed {_share(len(passes), len(rs))}, failed "
            f"{fails / len(rs):.1%}; {_times(passes)}; forecast {said}"
        )
        if not scenario.default_step:
            continue
        harmful = "worse" in scenario.name
        share = len(passes) / len(rs)
        goals.append(
            Goal(
                f"{scenario.name}: passed {_share(len(passes), len(rs))} "
                + (f"<= {GOAL_STEP_HARMFUL_PASS:.0%}" if harmful else f">= {GOAL_STEP_PASS:.0%}"),
                share <= GOAL_STEP_HARMFUL_PASS if harmful else share >= GOAL_STEP_PASS,
            )
        )
    for name, limit in (
        ("20% vs 0.1% 5xx", GOAL_FAST_S),
        ("20% vs 0.1% 5xx, a serving instance's weight step (no warm-up)", GOAL_FAST_S),
        ("latency 2x (p99 150 -> 300 ms)", GOAL_LATENCY_S),
    ):
        if name in named:
            rs = rows(named[name])
            times = [r.weir.at_s for r in rs if r.weir is not None]
            p95 = _p(times, 0.95) if len(times) == len(rs) else math.inf
            goals.append(
                Goal(
                    f"{name}: caught {len(times)}/{len(rs)}, p95 {p95:g} s <= {limit:g} s",
                    p95 <= limit,
                )
            )
    for name in ("1% vs 0.1% 5xx", "1% vs 0.1% 5xx, SLO 99%"):
        if name not in named:
            continue
        rs = rows(named[name])
        # a run not caught within the horizon counts as caught never: it is in the tail, where
        # it moves a median or a 95th percentile only once it is more than 5% of the runs
        weir_t = [r.weir.at_s if r.weir is not None else math.inf for r in rs]
        sprt_t = [r.sprt.at_s if r.sprt is not None else math.inf for r in rs]
        med, sprt_med = statistics.median(weir_t), statistics.median(sprt_t)
        p95, sprt_p95 = _p(weir_t, 0.95), _p(sprt_t, 0.95)
        if not math.isfinite(sprt_p95):
            goals.append(Goal(f"{name}: the SPRT's p95 is beyond the horizon", False))
            continue
        goals.append(
            Goal(
                f"{name}: median {med:g} s <= {GOAL_SPRT_RATIO:g}x the SPRT's {sprt_med:g} s "
                f"({med / sprt_med:.2f}x)",
                med <= GOAL_SPRT_RATIO * sprt_med,
            )
        )
        goals.append(
            Goal(
                f"{name}: p95 {p95:g} s <= {GOAL_SPRT_RATIO:g}x the SPRT's {sprt_p95:g} s "
                f"({p95 / sprt_p95:.2f}x)",
                p95 <= GOAL_SPRT_RATIO * sprt_p95,
            )
        )
    outage = next((i for n, i in named.items() if "into a shared 30 s outage" in n), None)
    if outage is not None:
        rs = rows(outage)
        caught = sum(r.weir is not None for r in rs)
        goals.append(
            Goal(
                f"1% vs 0.1% starting during a shared outage: caught {_share(caught, len(rs))}",
                caught == len(rs),
            )
        )
    lines.append("")
    lines.append("Goals:")
    for goal in goals:
        lines.append(f"  [{'met' if goal.met else 'MISSED'}] {goal.text}")
    return "\n".join(lines), all(g.met for g in goals)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000, help="runs per scenario (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes (default 2: the machine is shared)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="TEXT",
        help="only the scenarios whose name contains TEXT (repeatable)",
    )
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = [i for i, s in enumerate(SCENARIOS) if any(t in s.name for t in args.only)]
    started = time.perf_counter()
    results = run_all(args.runs, args.seed, args.workers, only)
    text, ok = report(results, args.runs, args.seed)
    print(text)
    print(f"\n{time.perf_counter() - started:.1f} s on {args.workers} processes")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
