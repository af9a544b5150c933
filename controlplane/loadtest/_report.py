"""The load test's findings: per instance, what the proxy counted; for the callers, what they
saw; and the checks an operator makes of the two. Pure: numbers in, report out.

The checks:

- callers got answers only from live instances: the live clusters completed as many requests
  as the callers got answers (a shadow's answers are discarded, so they never add to that);
- each shadow got its mirrored share: mirror_percent of the live requests, within 4 standard
  deviations of a binomial draw;
- the live instances split the callers' requests by their weights, within 4 standard deviations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.loadtest._load import ClientResult, LoadPlan, quantiles_ms
from controlplane.loadtest._stats import ClusterStats
from controlplane.verdict import quantile_ms

SIGMAS = 4.0


@dataclass(frozen=True, slots=True)
class Role:
    """An instance as weir has it: its activation, and its share of live traffic."""

    id: str
    version: str
    state: str
    """live, shadow, inactive or retired."""
    weight: int | None = None
    mirror_percent: float | None = None
    live_share: float = 0.0

    @classmethod
    def from_api(cls, view: Mapping[str, Any]) -> Role:
        """From one item of GET /v1/instances."""
        activation = view["activation"]
        return cls(
            id=view["instance"]["id"],
            version=view["instance"]["version"],
            state=activation["state"],
            weight=activation.get("weight"),
            mirror_percent=activation.get("mirror_percent"),
            live_share=float(view.get("live_share") or 0.0),
        )

    def describe(self) -> str:
        if self.state == "live":
            return f"live {100 * self.live_share:.4g}%"
        if self.state == "shadow":
            return f"shadow {self.mirror_percent or 0:g}%"
        return self.state


@dataclass(frozen=True, slots=True)
class InstanceRow:
    id: str
    version: str
    role: str
    """live, shadow, inactive, retired, or unknown (a cluster weir does not list)."""
    asked: str
    """The role with its share: "live 80%", "shadow 50%"."""
    requests: int
    classes: Mapping[int, int]
    p50_ms: float | None
    p99_ms: float | None

    @property
    def primary(self) -> int:
        return self.requests if self.role == "live" else 0

    @property
    def mirrored(self) -> int:
        return self.requests if self.role == "shadow" else 0


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str


@dataclass(frozen=True, slots=True)
class Report:
    service: str
    through: str
    admin: str
    plan: LoadPlan
    client: ClientResult
    rows: tuple[InstanceRow, ...]
    checks: tuple[Check, ...]
    changed: tuple[str, ...] = ()
    """Instances whose activation changed during the run: their rows mix two roles."""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        client = self.client
        return {
            "service": self.service,
            "through": self.through,
            "admin": self.admin,
            "asked": {"rps": self.plan.rps, "duration_s": self.plan.duration_s},
            "client": {
                "planned": client.planned,
                "sent": client.sent,
                "answered": client.answered,
                "statuses": {str(code): n for code, n in sorted(client.statuses.items())},
                "errors": dict(sorted(client.errors.items())),
                "cancelled": client.cancelled,
                "elapsed_s": round(client.elapsed_s, 3),
                "sent_rps": round(client.sent_rps, 1),
                "max_lag_ms": round(client.max_lag_s * 1000, 1),
                "latency_ms": {
                    k: round(v, 3) for k, v in quantiles_ms(client.latencies_ms).items()
                },
            },
            "instances": [
                {
                    "id": row.id,
                    "version": row.version,
                    "role": row.role,
                    "asked": row.asked,
                    "requests": row.requests,
                    "primary": row.primary,
                    "shadow": row.mirrored,
                    "classes": {f"{k}xx": n for k, n in sorted(row.classes.items())},
                    "p50_ms": row.p50_ms,
                    "p99_ms": row.p99_ms,
                }
                for row in self.rows
            ],
            "changed_during_run": list(self.changed),
            "checks": [{"ok": c.ok, "what": c.what} for c in self.checks],
            "ok": self.ok,
        }


def _quantile(stats: ClusterStats, q: float) -> float | None:
    if not stats.bounds or stats.timed == 0:
        return None
    value = quantile_ms(stats.slots(), q, stats.bounds)
    return None if value is None else round(value, 3)


def _within(observed: int, n: int, p: float) -> bool:
    """Whether `observed` of `n` draws is a likely count for probability `p`."""
    spread = SIGMAS * math.sqrt(n * p * (1 - p))
    return abs(observed - n * p) <= max(spread, 1.0)


def build_report(
    *,
    service: str,
    through: str,
    admin: str,
    plan: LoadPlan,
    client: ClientResult,
    counts: Mapping[str, ClusterStats],
    roles: Sequence[Role],
    roles_after: Sequence[Role] | None = None,
) -> Report:
    """`counts`: what the proxy counted per instance cluster during the run (after - before)."""
    rows = []
    known = {f"{service}--{role.id}": role for role in roles}
    for cluster in sorted(set(known) | set(counts)):
        role = known.get(cluster)
        stats = counts.get(cluster, ClusterStats())
        if role is not None and role.state in ("inactive", "retired") and not stats.requests:
            continue  # no traffic asked for, none seen
        rows.append(
            InstanceRow(
                id=role.id if role else cluster.removeprefix(f"{service}--"),
                version=role.version if role else "?",
                role=role.state if role else "unknown",
                asked=role.describe() if role else "not in weir",
                requests=stats.requests,
                classes=dict(stats.classes),
                p50_ms=_quantile(stats, 0.5),
                p99_ms=_quantile(stats, 0.99),
            )
        )
    changed: tuple[str, ...] = ()
    if roles_after is not None:
        after = {r.id: r for r in roles_after}
        changed = tuple(r.id for r in roles if after.get(r.id, r) != r)
    checks = _checks(client, rows, roles)
    return Report(service, through, admin, plan, client, tuple(rows), tuple(checks), changed)


def _checks(
    client: ClientResult, rows: Sequence[InstanceRow], roles: Sequence[Role]
) -> list[Check]:
    checks = []
    live = [row for row in rows if row.role == "live"]
    primary = sum(row.requests for row in live)
    answered = client.answered
    if answered == 0:
        checks.append(Check(False, "no request got an answer through the proxy"))
        return checks
    # Every caller's answer came from a live instance: counted by the live clusters alone.
    ok = abs(primary - answered) <= max(2, answered // 1000)
    what = f"callers got {answered} answers; the live instances answered {primary}"
    shadow_errors = sum(row.classes.get(5, 0) for row in rows if row.role == "shadow")
    if ok and shadow_errors:
        what += f" (the shadows' answers, {shadow_errors} of them 5xx, were discarded)"
    elif ok:
        what += " (the shadows' answers were discarded)"
    elif primary > answered:
        what += ": more than the callers got (other traffic through this proxy, or retries)"
    else:
        what += ": fewer than the callers got (answers the proxy made itself, e.g. 503s)"
    checks.append(Check(ok, what))
    # Each shadow got its mirrored share of the live requests.
    for row in rows:
        role = next((r for r in roles if r.id == row.id), None)
        if role is None or role.state != "shadow":
            continue
        share = (role.mirror_percent or 0.0) / 100
        expected = share * primary
        seen = f"{100 * row.requests / primary:.1f}%" if primary else "-"
        checks.append(
            Check(
                _within(row.requests, primary, share),
                f"shadow {row.id} got {row.requests} mirrored requests = {seen} of {primary} "
                f"live requests (asked {100 * share:g}%, expected about {expected:.0f})",
            )
        )
    # The live instances split the requests by their weights.
    if len(live) > 1:
        shares = {r.id: r.live_share for r in roles if r.state == "live"}
        off = [row for row in live if not _within(row.requests, primary, shares.get(row.id, 0.0))]
        split = ", ".join(
            f"{row.id} {100 * row.requests / primary:.1f}% "
            f"(asked {100 * shares.get(row.id, 0):.4g}%)"
            for row in live
        )
        checks.append(Check(not off, f"live split: {split}"))
    return checks
