"""Anytime-valid evidence over cumulative counts: e-processes that may be read every second.

An e-process for a null hypothesis H0 is a non-negative process whose value at any stopping time
has expectation at most 1 under every distribution in H0. By Ville's inequality the chance that
it *ever* reaches 1/alpha under H0 is at most alpha, so a verdict may look at it as often as it
likes, on counts that only grow, and stop the first time it crosses. Every function here is a
pure function of cumulative counts (no history is needed) and returns such a value, capped at
MAX_E_VALUE so that it stays a finite float.

Two shapes of test cover what the judge needs:

- `share_e_value`: of n events (errors, or requests slower than a bound) seen on the candidate
  and its baseline together, k were the candidate's; under H0 each event is the candidate's with
  probability at most `share`, the candidate's share of the requests. This is Lindon & Malek's
  (2022) conditional test for Poisson processes: whatever the traffic rate and the common error
  rate do over time, if the candidate is no worse, every error lands on it with probability
  equal to its share of traffic. The alternative is a uniform (Beta(1, 1)) mixture over that
  probability; the null is evaluated at its best fit within H0 (q <= share), which makes the
  ratio at most the test martingale of *every* null element, hence an e-process for the whole
  composite null "the candidate is no worse".

  The share itself is the judge's one estimate: the candidate's fraction of all requests so
  far, n_c / (n_c + n_b), not the configured weight. With the true routing share the test is
  exact. The estimate's noise is smaller than the events' by about the square root of the
  event rate, and since the events are among those requests it is the conditional
  (hypergeometric) comparison, which is tighter than the binomial the mixture assumes; the
  seeded property tests (tests/verdict) check the crossing rate at 0.1% and at 20% errors.
- `rate_e_value`: k successes in n Bernoulli trials against a fixed bound x, one-sided either
  way. The alternative is a mixture over a fixed grid of odds ratios against x (log-uniform
  weights), so that it suits error rates of 0.1% as well as 20%: every component's likelihood
  ratio is a supermartingale under any rate on the null side of x, and so is their average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_E_VALUE = 1e100
_LOG_MAX = math.log(MAX_E_VALUE)


@dataclass(frozen=True, slots=True)
class OddsGrid:
    """Alternatives as odds ratios against the bound, equally weighted (log-uniform)."""

    ratios: tuple[float, ...]
    terms: tuple[tuple[float, float], ...]
    """(r - 1, log r) of each ratio r, for the likelihood ratio r^k / (1 + (r - 1) x)^n."""

    @classmethod
    def geometric(cls, lo: float, hi: float, count: int) -> OddsGrid:
        step = (hi / lo) ** (1 / (count - 1))
        ratios = tuple(lo * step**i for i in range(count))
        return cls(ratios, tuple((r - 1, math.log(r)) for r in ratios))

    @property
    def above(self) -> bool:
        return self.ratios[0] > 1


ABOVE = OddsGrid.geometric(1.25, 1000.0, 10)
"""Alternatives to "the rate is at most x": odds from 25% higher to 1000 times higher."""
BELOW = OddsGrid.geometric(0.02, 0.8, 8)
"""Alternatives to "the rate is at least x": odds from 20% lower to 50 times lower."""


def _capped_exp(log_value: float) -> float:
    return MAX_E_VALUE if log_value >= _LOG_MAX else math.exp(log_value)


def share_e_value(k: float, n: float, share: float) -> float:
    """Evidence that more than `share` of n events are the candidate's, given that k are.

    Counts may be fractional (projections scale them); 0 <= k <= n and 0 <= share <= 1.
    """
    if n <= 0:
        return 1.0
    q = min(share, k / n)  # the null's best fit: the q <= share closest to k / n
    log_null = 0.0
    if k > 0:
        if q <= 0:  # share 0 and the candidate had events: impossible under H0
            return MAX_E_VALUE
        log_null = k * math.log(q)
    if n > k:  # then q < 1
        log_null += (n - k) * math.log1p(-q)
    lgamma = math.lgamma
    log_mixture = lgamma(k + 1) + lgamma(n - k + 1) - lgamma(n + 2)
    return _capped_exp(log_mixture - log_null)


def rate_e_value(k: float, n: float, bound: float, grid: OddsGrid) -> float:
    """Evidence against "the rate is at most `bound`" (a grid ABOVE it) or "at least `bound`"
    (a grid BELOW it), after k successes in n trials.

    Component j is the likelihood ratio of the rate with odds ratio r_j to the bound's,
    p_j = r_j x / (1 + (r_j - 1) x), which is r_j^k / (1 + (r_j - 1) x)^n.
    """
    if n <= 0:
        return 1.0
    if bound <= 0 or bound >= 1:
        # a rate cannot be below 0 or above 1: the null "at most 0" dies with the first
        # success, "at least 1" with the first failure, and the other two cannot be refuted.
        if (bound <= 0 and grid.above and k > 0) or (bound >= 1 and not grid.above and k < n):
            return MAX_E_VALUE
        return 1.0
    log1p, exp = math.log1p, math.exp
    logs = [k * log_r - n * log1p(r_less_1 * bound) for r_less_1, log_r in grid.terms]
    top = max(logs)
    return _capped_exp(top + math.log(sum([exp(v - top) for v in logs]) / len(logs)))


def binomial_kl(p: float, q: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(p) from Bernoulli(q), in nats."""
    if q <= 0 or q >= 1:
        return 0.0 if p == q else math.inf
    total = 0.0
    if p > 0:
        total += p * math.log(p / q)
    if p < 1:
        total += (1 - p) * math.log((1 - p) / (1 - q))
    return total
