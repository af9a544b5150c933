"""How `weir history` and `weir budget` show business objectives and the value of changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from controlplane.cli._output import value_lines
from controlplane.model import Entry, ValueEstimate, Verdict, VerdictRecorded


def money(value: ValueEstimate) -> str:
    """`-540.00/h [-700.00, -380.00]`."""
    return value.shown()


def verdict_suffix(verdict: Verdict) -> str:
    """What the CHANGE column adds to `verdict fail on #12`: the value per hour."""
    return f", value {verdict.value.per_hour:+,.2f}/h" if verdict.value is not None else ""


def objective_lines(entries: Iterable[Entry]) -> list[str]:
    """Per verdict with objectives or a value: its effects with their intervals and its value."""
    lines = []
    for entry in entries:
        event = entry.event
        if not isinstance(event, VerdictRecorded):
            continue
        verdict = event.verdict
        worth = verdict.value
        if not verdict.objectives and (worth is None or (worth.per_hour == 0 == worth.realized)):
            continue  # nothing measured beyond what the table says
        parts = [f"{o.shown()} {o.outcome.value}" for o in verdict.objectives]
        if verdict.value is not None:
            parts.append(
                f"value {money(verdict.value)} at {verdict.value.requests_per_s:.3g} requests/s, "
                f"realized {verdict.value.realized:+,.2f}"
            )
        lines.append(f"  #{entry.seq} {event.instance_id}: " + "; ".join(parts))
    return lines


def value_totals(entries: Sequence[Entry]) -> list[str]:
    """Per service: what its judged changes gained and lost while judged (realized values)."""
    return value_lines(
        (entry.event.service, entry.event.verdict.value.realized)
        for entry in entries
        if isinstance(entry.event, VerdictRecorded) and entry.event.verdict.value is not None
    )


def open_values(evaluations: list[dict[str, Any]], service: str) -> list[str]:
    """`weir budget`: the value of the service's changes under evaluation now."""
    lines = []
    for evaluation in evaluations:
        verdict = evaluation.get("verdict")
        if evaluation.get("service") != service or not verdict:
            continue
        judged = Verdict.model_validate(verdict)
        parts = [f"{o.shown()} {o.outcome.value}" for o in judged.objectives]
        if judged.value is not None:
            parts.append(f"value {money(judged.value)}")
        if parts:
            lines.append(f"  {evaluation.get('instance_id')}: " + "; ".join(parts))
    return lines
