"""A scripted stats source and a simple judge, so the loop is tested apart from the statistics."""

from __future__ import annotations

from controlplane.model import ArmEvidence, Outcome, Verdict
from controlplane.stats import ClusterCounts, Scrape, SourceUnavailable
from controlplane.verdict import Evidence


class ScriptedSource:
    """Cumulative counts the test sets per cluster; `down` makes the next scrapes fail."""

    def __init__(self) -> None:
        self.totals: dict[str, ClusterCounts] = {}
        self.at = 1_000_000.0
        self.down = False

    def serve(self, cluster: str, requests: int, errors: int = 0) -> None:
        """Add traffic to a cluster: requests, of which errors failed."""
        self.totals[cluster] = self.totals.get(cluster, ClusterCounts()) + ClusterCounts(
            requests, errors
        )

    async def scrape(self) -> Scrape:
        if self.down:
            raise SourceUnavailable("admin of proxy-1 refused the connection")
        self.at += 1
        return Scrape(at=self.at, clusters=dict(self.totals), reporting=1)


def rate_judge(evidence: Evidence, *, elapsed_s: float) -> Verdict:
    """fail: 5+ errors at over twice the baseline's rate; pass: 100+ requests; else wait.
    Reads everything served since the change (warm-up included): the loop is under test here,
    not the statistics."""
    candidate, baseline = evidence.served, evidence.served_baseline
    base_rate = baseline.errors / baseline.requests if baseline and baseline.requests else 0.0
    rate = candidate.errors / candidate.requests if candidate.requests else 0.0
    if candidate.errors >= 5 and rate > 2 * base_rate:
        outcome, reason = Outcome.FAIL, f"error rate {rate:.0%} against {base_rate:.0%}"
    elif candidate.requests >= 100:
        outcome, reason = Outcome.PASS, "no worse than the baseline"
    else:
        outcome, reason = Outcome.INCONCLUSIVE, "too few requests"
    return Verdict(
        outcome=outcome,
        reason=reason,
        candidate=ArmEvidence(requests=candidate.requests, errors=candidate.errors),
        elapsed_s=elapsed_s,
    )


def extra_failures(candidate: ClusterCounts, baseline: ClusterCounts | None) -> float:
    base_rate = baseline.errors / baseline.requests if baseline and baseline.requests else 0.0
    return max(0.0, candidate.errors - candidate.requests * base_rate)
