"""Counting compared requests into a change's ComparisonCounts, within fixed bounds."""

from __future__ import annotations

from controlplane.compare._diff import MAX_VALUE_CHARS, Differences
from controlplane.compare._fields import Answer
from controlplane.model import DifferenceExample, clip
from controlplane.verdict import ArmCounts, ComparisonCounts, EndpointCounts, FieldCounts

MAX_FIELDS = 256
"""Fields tracked per endpoint; differences in more make the change unable to pass."""
MAX_ENDPOINTS = 64
MAX_LATENCIES = 1000
"""Latencies kept per side (the most recent), for the verdict's p50 and p99."""
MAX_PATH_CHARS = MAX_VALUE_CHARS


def record(
    counts: ComparisonCounts,
    endpoint: str,
    method: str,
    path: str,
    found: Differences,
    *,
    examples: int,
) -> None:
    """Count one compared request: `found` are its differing fields, `path` its path as it may
    be stored (redacted)."""
    tally = counts.endpoints.get(endpoint)
    if tally is None:
        if len(counts.endpoints) >= MAX_ENDPOINTS:
            counts.untracked_endpoints += 1
            return
        tally = counts.endpoints[endpoint] = EndpointCounts()
    tally.compared += 1
    untracked = False
    for name, outcome in found.items():
        field = tally.fields.get(name)
        if field is None:
            if len(tally.fields) >= MAX_FIELDS:
                untracked = True
                continue
            counts.fields_found += 1
            field = tally.fields[name] = FieldCounts(index=counts.fields_found)
            new = True
        else:
            new = False
        if outcome.candidate_differs and outcome.noise_differs:
            field.both += 1
        elif outcome.candidate_differs:
            field.candidate_only += 1
        else:
            field.noise_only += 1
        if new:
            field.base = (field.candidate_only, field.noise_only, tally.compared)
        if outcome.example is not None and len(field.examples) < examples:
            e = outcome.example
            field.examples.append(
                DifferenceExample(
                    method=clip(method),
                    path=_cut(path),
                    field=clip(e.place),
                    primary=None if e.primary is None else clip(e.primary),
                    candidate=None if e.candidate is None else clip(e.candidate),
                    secondary=None if e.secondary is None else clip(e.secondary),
                )
            )
    if untracked:
        tally.untracked += 1


def record_arm(arm: ArmCounts, answer: Answer, latency_ms: float) -> None:
    arm.requests += 1
    if not answer.answered or (isinstance(answer.status, int) and answer.status >= 500):
        arm.errors += 1
    arm.latencies_ms.append(latency_ms)
    if len(arm.latencies_ms) > MAX_LATENCIES:
        del arm.latencies_ms[: len(arm.latencies_ms) - MAX_LATENCIES]


def _cut(path: str) -> str:
    return path if len(path) <= MAX_PATH_CHARS else path[:MAX_PATH_CHARS] + "…"
