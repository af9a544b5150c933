"""The load test's findings: per instance, what it served of this run's requests and what its
shadow copies were; for the callers, what they saw; the checks an operator makes of the two,
and the changes the ledger recorded meanwhile. Pure: numbers in, report out.

Which instance answered each of this run's requests is named by the proxy itself (weir's
listener adds `x-weir-instance` to the answers of tagged requests), so other traffic through
the same proxy never mixes in. Mirrored copies have no answer to read: a shadow's counts are
the proxy's cluster stats over the run, all of its traffic's, compared with all the live
requests the proxy completed meanwhile — mirroring applies to every request alike.

The checks:

- this run's callers got answers only from live instances;
- each shadow got its mirrored share: mirror_percent of the proxy's live requests, within 4
  standard deviations of a binomial draw;
- the live instances split this run's requests by their weights, within 4 standard deviations.

An instance whose activation changed during the run is left out of the share checks; the
report says what changed, who changed it and why (an evaluator's rollback names the verdict).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.loadtest._load import PROXY, ClientResult, LoadPlan, Tally, quantiles_ms
from controlplane.loadtest._stats import ClusterStats
from controlplane.verdict import quantile_ms

SIGMAS = 4.0


@dataclass(frozen=True, slots=True)
class InstanceRole:
    """An instance as weir has it: its activation, and its share of live traffic."""

    id: str
    version: str
    state: str
    """live, shadow, inactive or retired."""
    weight: int | None = None
    mirror_percent: float | None = None
    live_share: float = 0.0

    @classmethod
    def from_api(cls, view: Mapping[str, Any]) -> InstanceRole:
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
class Change:
    """A ledger entry about one of the service's instances, appended during the run."""

    seq: int
    at: str
    actor: str
    instance: str
    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class InstanceRow:
    id: str
    version: str
    role: str
    """live, shadow, inactive, retired, or unknown (a cluster weir does not list)."""
    asked: str
    """The role with its share: "live 80%", "shadow 50%"."""
    primary: int
    """This run's requests it answered (named by the proxy)."""
    mirrored: int
    """Mirrored copies it completed during the run, of all of the proxy's traffic (shadows)."""
    classes: Mapping[int, int]
    p50_ms: float | None
    p99_ms: float | None

    @property
    def requests(self) -> int:
        return self.primary + self.mirrored


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
    """Instances whose activation changed during the run."""
    changes: tuple[Change, ...] = ()
    proxy_live: int = 0
    """Every live request the proxy completed during the run, this run's and others'."""
    by_proxy: Tally = field(default_factory=Tally)
    """This run's answers that named no instance: the proxy answered them itself."""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        client = self.client
        return {
            "service": self.service,
            "through": self.through,
            "admin": self.admin,
            "asked": {
                "rps": self.plan.rps,
                "duration_s": self.plan.duration_s,
                "url": self.plan.url,
                "headers": [f"{k}:{v}" for k, v in self.plan.headers],
                "tag": self.plan.tag,
            },
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
                "answered_by_proxy": {
                    str(code): n for code, n in sorted(self.by_proxy.statuses.items())
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
            "proxy_live_requests": self.proxy_live,
            "changed_during_run": list(self.changed),
            "changes": [
                {
                    "seq": c.seq,
                    "at": c.at,
                    "actor": c.actor,
                    "instance": c.instance,
                    "what": c.what,
                    "reason": c.reason,
                }
                for c in self.changes
            ],
            "checks": [{"ok": c.ok, "what": c.what} for c in self.checks],
            "ok": self.ok,
        }


def _stats_quantile(stats: ClusterStats, q: float) -> float | None:
    if not stats.bounds or stats.timed == 0:
        return None
    value = quantile_ms(stats.slots(), q, stats.bounds)
    return None if value is None else round(value, 3)


def _latency(samples: list[float], key: str) -> float | None:
    value = quantiles_ms(samples).get(key)
    return None if value is None else round(value, 3)


def _classes(statuses: Mapping[int, int]) -> dict[int, int]:
    classes: dict[int, int] = {}
    for code, n in statuses.items():
        classes[code // 100] = classes.get(code // 100, 0) + n
    return classes


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
    roles: Sequence[InstanceRole],
    roles_after: Sequence[InstanceRole] | None = None,
    changes: Sequence[Change] = (),
) -> Report:
    """`counts`: what the proxy counted per instance cluster during the run (after - before),
    all traffic's; `client.served`: this run's answers by the instance the proxy named."""
    prefix = f"{service}--"
    known = {f"{prefix}{role.id}": role for role in roles}
    after = {r.id: r for r in roles_after or ()}
    changed = {r.id for r in roles if after.get(r.id, r) != r} | {c.instance for c in changes}
    rows = []
    for cluster in sorted(set(known) | set(counts) | (set(client.served) - {PROXY})):
        role = known.get(cluster)
        tally = client.served.get(cluster, Tally())
        stats = counts.get(cluster, ClusterStats())
        shadow = role is not None and role.state == "shadow"
        mirrored = stats.requests if shadow else 0
        if not tally.answered and not mirrored:
            continue  # neither this run's answers nor mirrored copies
        rows.append(
            InstanceRow(
                id=role.id if role else cluster.removeprefix(prefix),
                version=role.version if role else "?",
                role=role.state if role else "unknown",
                asked=role.describe() if role else "not in weir",
                primary=tally.answered,
                mirrored=mirrored,
                classes=_classes(tally.statuses) if tally.answered else dict(stats.classes),
                p50_ms=_latency(tally.latencies_ms, "p50")
                if tally.answered
                else _stats_quantile(stats, 0.5),
                p99_ms=_latency(tally.latencies_ms, "p99")
                if tally.answered
                else _stats_quantile(stats, 0.99),
            )
        )
    live_clusters = {c for c, r in known.items() if r.state == "live"}
    live_clusters |= {f"{prefix}{r.id}" for r in roles_after or () if r.state == "live"}
    proxy_live = sum(counts.get(c, ClusterStats()).requests for c in live_clusters)
    by_proxy = client.served.get(PROXY, Tally())
    checks = _checks(client, rows, roles, proxy_live, by_proxy, changed)
    return Report(
        service,
        through,
        admin,
        plan,
        client,
        tuple(rows),
        tuple(checks),
        tuple(sorted(changed)),
        tuple(changes),
        proxy_live,
        by_proxy,
    )


def _checks(
    client: ClientResult,
    rows: Sequence[InstanceRow],
    roles: Sequence[InstanceRole],
    proxy_live: int,
    by_proxy: Tally,
    changed: set[str],
) -> list[Check]:
    checks = []
    answered = client.answered
    if answered == 0:
        checks.append(Check(False, "no request got an answer through the proxy"))
        return checks
    # This run's answers came from live instances (or ones live during part of the run).
    was_live = {r.id for r in roles if r.state == "live"} | changed
    from_live = sum(row.primary for row in rows if row.id in was_live)
    elsewhere = [f"{row.id} ({row.role}) {row.primary}" for row in rows
                 if row.primary and row.id not in was_live]  # fmt: skip
    what = f"callers got {answered} answers; live instances gave {from_live}"
    if by_proxy.answered:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(by_proxy.statuses.items()))
        elsewhere.append(f"the proxy itself {by_proxy.answered} ({codes}: no route or no "
                         "healthy instance for these requests)")  # fmt: skip
    if elsewhere:
        what += "; the rest from " + ", ".join(elsewhere)
    checks.append(Check(not elsewhere and from_live == answered, what))
    # Each shadow got its mirrored share of the proxy's live requests.
    for row in rows:
        role = next((r for r in roles if r.id == row.id), None)
        if role is None or role.state != "shadow":
            continue
        if row.id in changed:
            checks.append(Check(True, f"shadow {row.id}: not checked, its activation changed "
                                      "during the run (see changes)"))  # fmt: skip
            continue
        share = (role.mirror_percent or 0.0) / 100
        seen = f"{100 * row.mirrored / proxy_live:.1f}%" if proxy_live else "-"
        checks.append(
            Check(
                _within(row.mirrored, proxy_live, share),
                f"shadow {row.id} got {row.mirrored} mirrored requests = {seen} of the "
                f"proxy's {proxy_live} live requests during the run (asked {100 * share:g}%; "
                "mirroring applies to all of its traffic alike)",
            )
        )
    # The live instances split this run's requests by their weights.
    live = [row for row in rows if row.role == "live"]
    if len(live) > 1:
        if changed & {row.id for row in live}:
            checks.append(Check(True, "live split: not checked, live activations changed "
                                      "during the run (see changes)"))  # fmt: skip
            return checks
        shares = {r.id: r.live_share for r in roles if r.state == "live"}
        mine = sum(row.primary for row in live)
        off = [row for row in live if not _within(row.primary, mine, shares.get(row.id, 0.0))]
        split = ", ".join(
            f"{row.id} {100 * row.primary / mine:.1f}% (asked {100 * shares.get(row.id, 0):.4g}%)"
            for row in live
        )
        checks.append(Check(not off, f"live split: {split}"))
    return checks
