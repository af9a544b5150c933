"""Business objectives on synthetic traffic: how fast a change that loses orders is rolled back,
how rarely a harmless one is, and whether a better one is recorded as better.

Seeded and self-contained (no Envoy, no network). Each run sends Poisson traffic to a
candidate (10 requests/s) and its baseline (90 requests/s); each request converts (carries an
order) with the scenario's probability: 5% on the baseline, 5% times (1 + the change) on the
candidate. Every simulated second the evaluator's check runs `controlplane.verdict.decide_objective`
on the counts since the change as the evaluator sees them: one second late (the outcomes of a
second arrive with the next flush), so the check at t seconds sees seconds 1 .. t-1. A run
ends at the first harm (a rollback) or improvement (recorded), or after 10 simulated minutes;
a pass does not end it, so the A/A scenario counts every harm over the whole 10 minutes, as
checks every second for 10 minutes would.

Beside weir, on the very same requests: Wald's SPRT for "5%" against the harmed rate, with
alpha = beta = 0.01 and both rates known exactly, run on the candidate's requests with the
same checks and delay; and its expected time from Wald's approximation.

    python -m bench.objective_sim [--runs 1000] [--seed 1] [--workers N]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.model import Objective, ObjectiveOutcome
from controlplane.outcomes import OutcomeCounts
from controlplane.verdict import ObjectivePolicy, decide_objective

CANDIDATE_RPS = 10.0
BASELINE_RPS = 90.0
BASE_RATE = 0.05
FLUSH_S = 1
HORIZON_S = 600
ALPHA = 0.01
POLICY = ObjectivePolicy(alpha=ALPHA)
OBJECTIVE = Objective.model_validate(
    {"name": "orders", "kind": "ratio", "tolerance": "2%", "source": {"header": "order"}}
)
GOAL_SPRT_RATIO = 2.0
GOAL_FALSE_ROLLBACKS = 0.01


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    change: float
    """The candidate's relative change in conversion (-0.5: half the orders)."""
    sprt_change: float
    """The harmed rate the SPRT is built for (its alternative)."""


SCENARIOS = (
    Scenario("-50% conversion (5% -> 2.5%)", -0.5, -0.5),
    Scenario("-20% conversion (5% -> 4%)", -0.2, -0.2),
    Scenario("+20% conversion (5% -> 6%)", +0.2, -0.5),
    Scenario("A/A (5% both)", 0.0, -0.5),
)


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: ObjectiveOutcome
    at_s: int | None
    """When weir decided harm or improvement (None: neither in the horizon)."""
    passed_at_s: int | None
    sprt_at_s: int | None
    """When the SPRT decided for the harmed rate (None: never, or it accepted 5% first)."""


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for means of 10 and 90 split into steps of at most 30.
    total = 0
    while mean > 0:
        step = min(mean, 30.0)
        limit, k, p = math.exp(-step), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                break
            k += 1
        total += k
        mean -= step
    return total


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


def _sprt_bounds() -> tuple[float, float]:
    return math.log(ALPHA / (1 - ALPHA)), math.log((1 - ALPHA) / ALPHA)


def wald_expected_s(change: float) -> float:
    """Wald's approximation of the SPRT's expected time to decide for a harmed rate that is
    true, plus the flush delay."""
    p0, p1 = BASE_RATE, BASE_RATE * (1 + change)
    kl = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    lower, upper = _sprt_bounds()
    expected = ((1 - ALPHA) * upper + ALPHA * lower) / kl
    return expected / CANDIDATE_RPS + FLUSH_S


def simulate(scenario_index: int, run: int, seed: int) -> RunResult:
    scenario = SCENARIOS[scenario_index]
    rng = random.Random(f"{seed}:{scenario_index}:{run}")
    p_cand = BASE_RATE * (1 + scenario.change)
    p1 = BASE_RATE * (1 + scenario.sprt_change)
    win, lose = math.log(p1 / BASE_RATE), math.log((1 - p1) / (1 - BASE_RATE))
    lower, upper = _sprt_bounds()
    seen: list[tuple[int, int, int, int]] = []  # per second: cand requests, orders, base...
    n_c = k_c = n_b = k_b = 0
    llr, sprt_at, sprt_done, passed_at = 0.0, None, False, None
    for t in range(1, HORIZON_S + 1):
        c = _poisson(rng, CANDIDATE_RPS)
        b = _poisson(rng, BASELINE_RPS)
        seen.append((c, _binomial(rng, c, p_cand), b, _binomial(rng, b, BASE_RATE)))
        if t <= FLUSH_S:
            continue
        c, kc, b, kb = seen[t - 1 - FLUSH_S]
        n_c, k_c, n_b, k_b = n_c + c, k_c + kc, n_b + b, k_b + kb
        if not sprt_done:
            llr += kc * win + (c - kc) * lose
            if llr >= upper:
                sprt_at, sprt_done = t, True
            elif llr <= lower:
                sprt_done = True
        outcome = decide_objective(
            OBJECTIVE, OutcomeCounts(n_c, k_c), OutcomeCounts(n_b, k_b), POLICY
        )
        if outcome is ObjectiveOutcome.PASS and passed_at is None:
            passed_at = t
        if outcome in (ObjectiveOutcome.HARM, ObjectiveOutcome.IMPROVEMENT):
            return RunResult(outcome, t, passed_at, sprt_at)
    return RunResult(
        ObjectiveOutcome.PASS if passed_at else ObjectiveOutcome.INCONCLUSIVE,
        None,
        passed_at,
        sprt_at,
    )


def _task(task: tuple[int, int, int]) -> tuple[int, RunResult]:
    scenario, run, seed = task
    return scenario, simulate(scenario, run, seed)


def run_all(runs: int, seed: int, workers: int) -> dict[int, list[RunResult]]:
    tasks = [(s, r, seed) for s in range(len(SCENARIOS)) for r in range(runs)]
    results: dict[int, list[RunResult]] = {s: [] for s in range(len(SCENARIOS))}
    if workers <= 1:
        done = map(_task, tasks)
        for s, result in done:
            results[s].append(result)
        return results
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for s, result in pool.imap_unordered(_task, tasks, chunksize=8):
            results[s].append(result)
    return results


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _times(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.0f} s, p95 {_p95(values):.0f} s"


def report(results: dict[int, list[RunResult]], runs: int, seed: int) -> tuple[list[str], bool]:
    lines = [
        f"objective_sim: {runs} runs per scenario, seed {seed}; candidate {CANDIDATE_RPS:g} "
        f"requests/s, baseline {BASELINE_RPS:g}; conversion {100 * BASE_RATE:g}%; tolerance "
        f"{OBJECTIVE.tolerance:g}%; alpha {ALPHA:g}; checks every second, {FLUSH_S} s late, "
        f"for {HORIZON_S // 60} min"
    ]
    met = True
    for index, scenario in enumerate(SCENARIOS):
        runs_of = results[index]
        harm = [r.at_s for r in runs_of if r.outcome is ObjectiveOutcome.HARM and r.at_s]
        better = [r for r in runs_of if r.outcome is ObjectiveOutcome.IMPROVEMENT]
        passed = [r for r in runs_of if r.passed_at_s is not None]
        sprt = [r.sprt_at_s for r in runs_of if r.sprt_at_s is not None]
        n = len(runs_of)
        lines.append(f"\n{scenario.name}")
        lines.append(
            f"  weir: rolled back {len(harm)}/{n} ({_times(harm)}); improvement "
            f"{len(better)}/{n}; passed (no harm beyond tolerance) at some check {len(passed)}/{n}"
        )
        if scenario.change < 0:
            lines.append(
                f"  SPRT {BASE_RATE:g} vs {BASE_RATE * (1 + scenario.sprt_change):g}: decided "
                f"harm {len(sprt)}/{n} ({_times(sprt)}); Wald's E[time] "
                f"{wald_expected_s(scenario.sprt_change):.0f} s"
            )
            if harm and sprt:
                ratio = statistics.median(harm) / statistics.median(sprt)
                goal = scenario.change <= -0.5
                ok = ratio <= GOAL_SPRT_RATIO and len(harm) == n
                lines.append(
                    f"  weir/SPRT median time: {ratio:.2f}x"
                    + (
                        f" (goal <= {GOAL_SPRT_RATIO:g}x, {'met' if ok else 'NOT met'})"
                        if goal
                        else ""
                    )
                )
                met &= ok or not goal
        elif scenario.change > 0:
            ok = not harm
            lines.append(f"  never rolled back: {'met' if ok else 'NOT met'}")
            met &= ok
        else:
            share = len(harm) / n
            ok = share <= GOAL_FALSE_ROLLBACKS
            lines.append(
                f"  false rollbacks {100 * share:.1f}% (goal <= {100 * GOAL_FALSE_ROLLBACKS:g}%, "
                f"{'met' if ok else 'NOT met'}); SPRT 5% vs 2.5% false harm {len(sprt)}/{n}"
            )
            met &= ok
    return lines, met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.objective_sim", description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_all(args.runs, args.seed, args.workers)
    lines, met = report(results, args.runs, args.seed)
    print("\n".join(lines))
    print(f"\n{time.perf_counter() - started:.1f} s on {args.workers} processes")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
