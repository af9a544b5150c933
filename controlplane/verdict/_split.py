"""Sample-ratio check: does each instance get the share of traffic weir asked the proxies for?

Envoy's weighted clusters route each request at random with probability weight / sum(weights),
so the counts per instance are multinomial with known shares when the proxies do what weir
asked. The test is Lindon & Malek's (2022) Dirichlet-multinomial mixture against that
multinomial: exact, anytime-valid (a test martingale under the asked-for split), so it may be
read on cumulative counts as often as one likes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.verdict._evidence import MAX_E_VALUE

CONCENTRATION = 100.0
"""Prior strength of the mixture: shares off by about a tenth or more (relative) are found fast."""


@dataclass(frozen=True, slots=True)
class SplitCheck:
    mismatch: bool
    e_value: float
    """Evidence against "the proxies split traffic as asked"; a mismatch at >= threshold."""
    threshold: float
    requests: int
    shares: Mapping[str, tuple[float, float]]
    """Per instance: (observed share, expected share)."""
    worst: str | None
    """The instance furthest off its expected share (None without requests)."""
    reason: str


def split_mismatch(
    observed: Mapping[str, int], expected_share: Mapping[str, float], alpha: float = 0.01
) -> SplitCheck:
    """Test observed request counts per instance against expected shares (any non-negative
    weights; they are normalised). An instance missing from either side counts as 0 there."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, not {alpha}")
    names = sorted(set(observed) | set(expected_share))
    weights = {name: max(0.0, expected_share.get(name, 0.0)) for name in names}
    total_weight = sum(weights.values())
    if total_weight <= 0:
        raise ValueError("expected shares must not all be zero")
    expected = {name: w / total_weight for name, w in weights.items()}
    counts = {name: max(0, observed.get(name, 0)) for name in names}
    n = sum(counts.values())
    threshold = 1 / alpha
    shares = {name: (counts[name] / n if n else 0.0, expected[name]) for name in names}
    if n == 0:
        return SplitCheck(False, 1.0, threshold, 0, shares, None, "no requests yet")

    unexpected = [name for name in names if expected[name] == 0 and counts[name] > 0]
    if unexpected:
        worst = max(unexpected, key=lambda name: counts[name])
        e_value = MAX_E_VALUE
    else:
        log_e = math.lgamma(CONCENTRATION) - math.lgamma(CONCENTRATION + n)
        for name in names:
            p, k = expected[name], counts[name]
            if p > 0:
                prior = CONCENTRATION * p
                log_e += math.lgamma(prior + k) - math.lgamma(prior) - k * math.log(p)
        e_value = math.exp(min(log_e, math.log(MAX_E_VALUE)))
        worst = max(
            (name for name in names if expected[name] > 0),
            key=lambda name: (counts[name] - n * expected[name]) ** 2 / (n * expected[name]),
        )
    mismatch = e_value >= threshold
    got, want = shares[worst]
    verdict = "off" if mismatch else "within chance of"
    reason = (
        f"{worst} served {got:.2%} of {n:,} requests against {want:.2%} asked "
        f"({verdict} its share: e-value {e_value:.3g}, threshold {threshold:g})"
    )
    return SplitCheck(mismatch, e_value, threshold, n, shares, worst, reason)
