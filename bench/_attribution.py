"""Every failed request of a session, said why: the client's record joined with Envoy's access
log (`weir bootstrap --access-log`), by the request's unique path.

A failure is *expected* when the failing test instance answered it: a 5xx from its cluster
that came from the instance itself (`details` via_upstream; Envoy's `URX` flag when its route
retried it to the limit). Anything else is a defect to find: a failure Envoy made up (no
healthy upstream, a reset, no cluster), one from a healthy instance, or one the client saw and
Envoy never logged (a refused or reset connection). Pure functions: the session (bench.session)
does the I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VIA_UPSTREAM = "via_upstream"
EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class ClientFailure:
    """A request whose answer was not a 2xx, as the client saw it."""

    path: str
    sent_at: float
    """Unix time."""
    outcome: str
    """The status ("503") or the name of the error that ended it (ReadError, ConnectError)."""
    body: str = ""


@dataclass(frozen=True, slots=True)
class Logged:
    """One access-log line (controlplane.resources ACCESS_LOG_FIELDS)."""

    path: str
    status: int
    flags: str
    details: str
    cluster: str
    upstream: str
    attempts: int
    started_at: float

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> Logged:
        return cls(
            path=str(entry.get("path") or ""),
            status=int(entry.get("status") or 0),
            flags=str(entry.get("flags") or "-"),
            details=str(entry.get("details") or ""),
            cluster=str(entry.get("cluster") or "-"),
            upstream=str(entry.get("upstream") or "-"),
            attempts=int(entry.get("attempts") or 0),
            started_at=_unix(str(entry.get("start") or "")),
        )


def _unix(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def read_access_log(lines: Iterable[str]) -> dict[str, Logged]:
    """Each logged request by its path (the session's paths are unique); lines that are not
    Envoy's JSON are skipped."""
    logged: dict[str, Logged] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            record = Logged.of(entry)
            logged[record.path] = record
    return logged


@dataclass(frozen=True, slots=True)
class Event:
    """Something the session did (a weir command), and when."""

    at: float
    what: str


@dataclass(slots=True)
class Cause:
    """Failures that share an explanation."""

    why: str
    expected: bool
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Attribution:
    causes: tuple[Cause, ...]

    @property
    def expected(self) -> int:
        return sum(c.count for c in self.causes if c.expected)

    @property
    def unexplained(self) -> int:
        """Failures not caused by the failing test instance: each a defect to find."""
        return sum(c.count for c in self.causes if not c.expected)


def _last_event(events: Sequence[Event], at: float) -> str:
    before = [e for e in events if e.at <= at]
    if not before:
        return "before the first change"
    last = before[-1]
    return f"{at - last.at:.2f}s after `{last.what}`"


def attribute(
    failures: Iterable[ClientFailure],
    logged: Mapping[str, Logged],
    failing_clusters: frozenset[str],
    events: Sequence[Event] = (),
) -> Attribution:
    """Each failure's cause: expected when a failing test instance (one of `failing_clusters`)
    answered it with a 5xx of its own; any other, a defect, explained by what Envoy logged (or
    did not) and the session's last change before it."""
    causes: dict[str, Cause] = {}
    for failure in failures:
        entry = logged.get(failure.path)
        if entry is None:
            why, expected = f"client: {failure.outcome}, never logged by Envoy", False
        elif (
            entry.cluster in failing_clusters
            and entry.status >= 500
            and entry.details == VIA_UPSTREAM
        ):
            retried = " after retries (URX)" if "URX" in entry.flags else ""
            why, expected = f"{entry.status} from the failing test instance{retried}", True
        else:
            why = (
                f"{entry.status} {entry.flags} {entry.details} from {entry.cluster} "
                f"(client: {failure.outcome})"
            )
            expected = False
        cause = causes.setdefault(why, Cause(why, expected))
        cause.count += 1
        if not expected and len(cause.examples) < EXAMPLES:
            cause.examples.append(
                f"{failure.path} at {failure.sent_at:.3f}, "
                f"{_last_event(events, failure.sent_at)}: {failure.body[:120]!r}"
            )
    ordered = sorted(causes.values(), key=lambda c: (not c.expected, -c.count, c.why))
    return Attribution(tuple(ordered))


def report(
    attribution: Attribution, sent: int, statuses: Counter[str], failing: Iterable[str]
) -> list[str]:
    """The attribution as lines for people."""
    failed = sum(n for outcome, n in statuses.items() if not outcome.startswith("2"))
    lines = [
        f"requests: {sent:,} sent, {sent - failed:,} answered 2xx, {failed:,} failed",
        f"failing test instances: {', '.join(sorted(failing)) or 'none'}",
        "failed requests by cause:",
    ]
    for cause in attribution.causes:
        kind = "expected" if cause.expected else "DEFECT  "
        lines.append(f"  {kind} {cause.count:>7,}  {cause.why}")
        lines += [f"                    e.g. {example}" for example in cause.examples]
    if not attribution.causes:
        lines.append("  (none)")
    lines.append(
        f"expected (the failing test instance answered them): {attribution.expected:,}; "
        f"unexplained (caused by weir's changes or anything else): {attribution.unexplained:,}"
    )
    return lines
