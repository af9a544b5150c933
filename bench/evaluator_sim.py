"""The evaluator on synthetic traffic: how fast a harmful change is failed, how often a harmless
one is, against Wald's SPRT and Flagger's documented rule on the same traffic.

Seeded and self-contained (no Envoy, no network). Each run sends Poisson traffic to a candidate
(10 rps) and its baseline (90 rps) with the scenario's 5xx rates and latency distributions,
binned into Envoy's histogram buckets. Every simulated second the evaluator's check runs
`controlplane.verdict.judge` on the counts since the change as the evaluator would see them:
one second late (Envoy's stats flush). A run ends at weir's first pass or fail -- as the
evaluator closes a change then -- or after 10 simulated minutes. Beside weir, on the very same
traffic:

- Wald's SPRT for the same rates and alpha (beta = alpha), knowing both rates exactly: its
  expected sample size from Wald's approximation, and the SPRT itself run on the candidate's
  counts with the same one-second checks and flush delay;
- Flagger's documented analysis: every 1 minute, the candidate's success rate over that
  minute must be at least 99% and its p99 at most 500 ms (the docs' request-duration example);
  the 5th failed check rolls back.

    python -m bench.evaluator_sim [--runs 1000] [--seed 1] [--workers N]
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
from dataclasses import dataclass

from controlplane.model import Outcome, Slo
from controlplane.stats import LATENCY_BOUNDS_MS, ClusterCounts
from controlplane.verdict import VerdictPolicy, judge, quantile_ms

CANDIDATE_RPS = 10.0
BASELINE_RPS = 90.0
FLUSH_S = 1
HORIZON_S = 600
ALPHA = 0.01
FLAGGER_INTERVAL_S = 60
FLAGGER_MIN_SUCCESS_PERCENT = 99.0
FLAGGER_MAX_P99_MS = 500.0
FLAGGER_THRESHOLD = 5
POLICY = VerdictPolicy(alpha=ALPHA)

GOAL_FAST_S = 5.0
GOAL_SPRT_RATIO = 2.0
GOAL_FALSE_ROLLBACKS = 0.01


# Traffic.


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def lognormal_buckets(median_ms: float, p99_ms: float) -> tuple[float, ...]:
    """Probability of each Envoy latency bucket for a log-normal latency."""
    sigma = math.log(p99_ms / median_ms) / 2.3263478740408408
    cdf = [_normal_cdf(math.log(b / median_ms) / sigma) for b in LATENCY_BOUNDS_MS]
    edges = [0.0, *cdf, 1.0]
    # buckets too far out to ever see a request are left empty, in both arms alike
    return tuple(hi - lo if hi - lo > 1e-12 else 0.0 for lo, hi in itertools.pairwise(edges))


def mixed(a: Sequence[float], b: Sequence[float], b_share: float) -> tuple[float, ...]:
    return tuple((1 - b_share) * x + b_share * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True, slots=True)
class Arm:
    rps: float
    error_rate: float
    buckets: tuple[float, ...]
    """Each latency bucket's share of requests."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    candidate: Arm
    baseline: Arm
    slo: Slo
    harmless: bool = False


HEALTHY = lognormal_buckets(40.0, 150.0)
SLOWER = lognormal_buckets(60.0, 225.0)  # every request 1.5 times slower: p99 150 -> 225 ms
# 0.88% of requests turn slow (log-normal, median 400 ms): p99 150 -> 225 ms, median unchanged
SLOW_TAIL = mixed(HEALTHY, lognormal_buckets(400.0, 800.0), 0.0088)
SLO = Slo(success_rate=99.9, latency_p99_ms=300)


def _scenarios() -> tuple[Scenario, ...]:
    def arm(rps: float, errors: float, buckets: tuple[float, ...] = HEALTHY) -> Arm:
        return Arm(rps, errors, buckets)

    base = arm(BASELINE_RPS, 0.001)
    return (
        Scenario("20% vs 0.1% 5xx", arm(CANDIDATE_RPS, 0.20), base, SLO),
        Scenario("1% vs 0.1% 5xx", arm(CANDIDATE_RPS, 0.01), base, SLO),
        Scenario(
            "1% vs 0.1% 5xx, SLO 99% (baseline test alone)",
            arm(CANDIDATE_RPS, 0.01),
            base,
            Slo(success_rate=99.0, latency_p99_ms=300),
        ),
        Scenario("p99 +50%, all requests 1.5x", arm(CANDIDATE_RPS, 0.001, SLOWER), base, SLO),
        Scenario("p99 +50%, slowest 0.9% only", arm(CANDIDATE_RPS, 0.001, SLOW_TAIL), base, SLO),
        Scenario("A/A (0.1% 5xx both)", arm(CANDIDATE_RPS, 0.001), base, SLO, harmless=True),
    )


SCENARIOS = _scenarios()


def _poisson_cdf(mean: float) -> list[float]:
    """Cumulative probabilities of Poisson(mean), for sampling by inversion (one uniform and a
    bisection per draw)."""
    cdf: list[float] = []
    total, term, k = 0.0, math.exp(-mean), 0
    while total < 1 - 1e-12 and k < 10_000:
        total += term
        cdf.append(total)
        k += 1
        term *= mean / k
    cdf[-1] = 1.0
    return cdf


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 0.1:
        return sum(rng.random() < p for _ in range(n))
    count, position, log_q = 0, -1, math.log1p(-p)
    while True:  # jump from one success to the next: geometric gaps
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position >= n:
            return count
        count += 1


RARE_PER_S = 1e-4
"""Buckets an arm would see a request in less often than once in ~3 hours are left empty."""


class _ArmTraffic:
    """One arm's traffic, second by second: each bucket's count is Poisson (Poisson arrivals
    split by latency), the 5xx among them binomial; kept as cumulative counts."""

    def __init__(self, arm: Arm) -> None:
        self.error_rate = arm.error_rate
        self.samplers = [
            (i, _poisson_cdf(arm.rps * p))
            for i, p in enumerate(arm.buckets)
            if arm.rps * p > RARE_PER_S
        ]
        self.requests = 0
        self.errors = 0
        self.latency = [0] * len(arm.buckets)
        self.last_second = [0] * len(arm.buckets)
        self.last_errors = 0

    def tick(self, rng: random.Random) -> None:
        served = 0
        uniform, latency, last = rng.random, self.latency, self.last_second
        for i, cdf in self.samplers:
            count = bisect.bisect_left(cdf, uniform())
            last[i] = count
            latency[i] += count
            served += count
        self.last_errors = _binomial(rng, served, self.error_rate)
        self.requests += served
        self.errors += self.last_errors

    def counts(self) -> ClusterCounts:
        return ClusterCounts(self.requests, self.errors, tuple(self.latency))


# The rules.


def _log_bounds(alpha: float, beta: float) -> tuple[float, float]:
    return math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))


def _sprt_design(scenario: Scenario) -> tuple[str, list[float], list[float]]:
    """What the SPRT watches (5xx or latency buckets), and its H1 and H0 probabilities. For the
    A/A scenario it is the SPRT of the 1% scenario: the harm a rollback guards against."""
    cand, base = scenario.candidate, scenario.baseline
    if scenario.harmless:
        cand = SCENARIOS[1].candidate
    if cand.error_rate != base.error_rate:
        h1, h0 = cand.error_rate, base.error_rate
        return "errors", [h1, 1 - h1], [h0, 1 - h0]
    return "latency", list(cand.buckets), list(base.buckets)


def wald_expected_requests(scenario: Scenario, alpha: float = ALPHA) -> float:
    """Wald's approximation of the SPRT's expected sample size when H1 holds."""
    _, h1, h0 = _sprt_design(scenario)
    kl = sum(p * math.log(p / q) for p, q in zip(h1, h0, strict=True) if p > 0 and q > 0)
    upper, lower = _log_bounds(alpha, alpha)
    return ((1 - alpha) * upper + alpha * lower) / kl


@dataclass(frozen=True, slots=True)
class Decision:
    """When a rule rolled back (seconds since the change, candidate requests it had seen)."""

    at_s: int
    requests: int


@dataclass(frozen=True, slots=True)
class RunResult:
    weir: Decision | None
    weir_passed_at_s: int | None
    sprt: Decision | None
    flagger: Decision | None


def simulate(scenario_index: int, run: int, seed: int) -> RunResult:
    """One run. The check at time t (seconds since the change) sees seconds 1 .. t - 1: every
    rule reads what Envoy flushed a second ago."""
    scenario = SCENARIOS[scenario_index]
    rng = random.Random(f"{seed}/{scenario.name}/{run}")
    cand, base = _ArmTraffic(scenario.candidate), _ArmTraffic(scenario.baseline)
    kind, h1, h0 = _sprt_design(scenario)
    log_ratio = [math.log(p / q) if p > 0 and q > 0 else 0.0 for p, q in zip(h1, h0, strict=True)]
    sprt_upper, sprt_lower = _log_bounds(ALPHA, ALPHA)
    sprt_llr = 0.0
    weir = sprt = flagger = None
    weir_passed: int | None = None
    weir_open = sprt_open = flagger_open = True
    flagger_failed = 0
    window_requests = window_errors = 0
    window_latency = [0] * len(scenario.candidate.buckets)
    last_flagger_check = (HORIZON_S - FLUSH_S) // FLAGGER_INTERVAL_S
    for t in range(1, HORIZON_S + 1):
        data_s = t - FLUSH_S  # seconds of traffic the checks at time t can see
        if weir_open and data_s > 0:
            verdict = judge(
                cand.counts(), base.counts(), slo=scenario.slo, elapsed_s=float(t), policy=POLICY
            )
            if verdict.outcome is Outcome.FAIL:
                weir, weir_open = Decision(t, cand.requests), False
            elif verdict.outcome is Outcome.PASS:
                weir_passed, weir_open = t, False
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
        cand.tick(rng)  # second t
        base.tick(rng)
        served = sum(cand.last_second)
        window_requests += served
        window_errors += cand.last_errors
        for i, count in enumerate(cand.last_second):
            window_latency[i] += count
        if kind == "errors":
            sprt_llr += cand.last_errors * log_ratio[0] + (served - cand.last_errors) * log_ratio[1]
        else:
            sprt_llr += sum(c * r for c, r in zip(cand.last_second, log_ratio, strict=True))
    return RunResult(weir, weir_passed, sprt, flagger)


# Running and reporting.


def _simulate_task(task: tuple[int, int, int]) -> tuple[int, RunResult]:
    scenario_index, run, seed = task
    return scenario_index, simulate(scenario_index, run, seed)


def run_all(runs: int, seed: int, workers: int) -> dict[int, list[RunResult]]:
    tasks = [(i, run, seed) for i in range(len(SCENARIOS)) for run in range(runs)]
    results: dict[int, list[RunResult]] = {i: [] for i in range(len(SCENARIOS))}
    if workers <= 1:
        for task in tasks:
            index, result = _simulate_task(task)
            results[index].append(result)
        return results
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for index, result in pool.imap_unordered(_simulate_task, tasks, chunksize=16):
            results[index].append(result)
    return results


@dataclass(frozen=True, slots=True)
class Row:
    rule: str
    rolled_back: int
    runs: int
    times_s: list[int]
    requests: list[int]

    def cells(self) -> list[str]:
        share = f"{self.rolled_back} ({self.rolled_back / self.runs:.1%})"
        return [self.rule, share, *_stats(self.times_s), *_stats(self.requests)]


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _stats(values: Sequence[float]) -> list[str]:
    if not values:
        return ["-", "-"]
    return [f"{statistics.fmean(values):,.1f}", f"{_p95(values):,.0f}"]


def _row(rule: str, decisions: list[Decision | None]) -> Row:
    made = [d for d in decisions if d is not None]
    return Row(rule, len(made), len(decisions), [d.at_s for d in made], [d.requests for d in made])


HEADER = ["rule", "rolled back", "mean s", "p95 s", "mean req", "p95 req"]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows if len(r) > 1) for i in range(len(HEADER))]
    lines = []
    for r in rows:
        if len(r) == 1:
            lines.append(r[0])
            continue
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def report(results: dict[int, list[RunResult]], runs: int, seed: int) -> tuple[str, bool]:
    lines = [
        f"evaluator_sim: {runs:,} runs per scenario (seed {seed}); candidate {CANDIDATE_RPS:g} "
        f"rps, baseline {BASELINE_RPS:g} rps; a check every 1 s on stats flushed {FLUSH_S} s "
        f"late; alpha {ALPHA:g}; a run ends at weir's verdict or after {HORIZON_S} s",
        "SLO 99.9% / p99 300 ms unless noted; baseline: 0.1% 5xx, latency log-normal with "
        "median 40 ms and p99 150 ms",
        "",
    ]
    rows: list[list[str]] = [HEADER]
    weir_rows: dict[str, Row] = {}
    for index, scenario in enumerate(SCENARIOS):
        rs = results[index]
        expected = wald_expected_requests(scenario)
        weir = _row("weir", [r.weir for r in rs])
        weir_rows[scenario.name] = weir
        passed = sum(1 for r in rs if r.weir_passed_at_s is not None)
        sprt_name = "Wald SPRT for 1% vs 0.1%" if scenario.harmless else "Wald SPRT"
        rows += [
            [f"{scenario.name}"],
            [f"  {weir.rule} (passed: {passed})", *weir.cells()[1:]],
            [
                f"  {sprt_name}, E[N] by Wald's formula",
                "-",
                f"{expected / CANDIDATE_RPS:,.1f}",
                "-",
                f"{expected:,.1f}",
                "-",
            ],
            [f"  {sprt_name}, simulated", *_row("", [r.sprt for r in rs]).cells()[1:]],
            [
                "  Flagger (1 min checks, >= 99% success, p99 <= 500 ms, 5 fails)",
                *_row("", [r.flagger for r in rs]).cells()[1:],
            ],
        ]
    lines.append(_table(rows))
    lines.append("")
    ok = True

    def goal(text: str, met: bool) -> None:
        nonlocal ok
        ok = ok and met
        lines.append(f"  {text} ({'met' if met else 'MISSED'})")

    lines.append("goals:")
    fast = weir_rows[SCENARIOS[0].name]
    within = sum(t <= GOAL_FAST_S for t in fast.times_s)
    goal(
        f"20% vs 0.1%: decided within {GOAL_FAST_S:g} s including the {FLUSH_S} s flush, at "
        f"the 95th percentile: {fast.rolled_back}/{fast.runs} failed, mean "
        f"{statistics.fmean(fast.times_s):.1f} s, p95 {_p95(fast.times_s):.0f} s; "
        f"{within / fast.runs:.1%} of runs within {GOAL_FAST_S:g} s, the slowest "
        f"{max(fast.times_s)} s",
        fast.rolled_back == fast.runs and _p95(fast.times_s) <= GOAL_FAST_S,
    )
    for scenario in SCENARIOS[1:3]:
        row = weir_rows[scenario.name]
        expected = wald_expected_requests(scenario)
        sprt_s = expected / CANDIDATE_RPS + FLUSH_S
        mean_s, mean_req = statistics.fmean(row.times_s), statistics.fmean(row.requests)
        goal(
            f"{scenario.name}: within {GOAL_SPRT_RATIO:g}x the SPRT: mean {mean_s:.1f} s, "
            f"{mean_req:.0f} requests = {mean_s / sprt_s:.2f}x the SPRT's {sprt_s:.1f} s "
            f"(E[N] {expected:.0f} requests at {CANDIDATE_RPS:g} rps + {FLUSH_S} s flush), "
            f"{mean_req / expected:.2f}x its requests",
            row.rolled_back == row.runs and mean_s <= GOAL_SPRT_RATIO * sprt_s,
        )
    aa = weir_rows[SCENARIOS[-1].name]
    goal(
        f"A/A false rollbacks <= {GOAL_FALSE_ROLLBACKS:.0%}: {aa.rolled_back} of {aa.runs} "
        f"({aa.rolled_back / aa.runs:.2%})",
        aa.rolled_back / aa.runs <= GOAL_FALSE_ROLLBACKS,
    )
    return "\n".join(lines), ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000, help="runs per scenario (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=min(8, os.cpu_count() or 1), help="processes (default: CPUs)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_all(args.runs, args.seed, args.workers)
    text, ok = report(results, args.runs, args.seed)
    print(text)
    print(f"\n{time.perf_counter() - started:.1f} s on {args.workers} processes")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
