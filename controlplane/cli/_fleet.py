"""`weir history` and `weir proxies`: what changed, and what the Envoys made of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import emit, paint, short_version, table, when

if TYPE_CHECKING:
    from controlplane.model import Entry

_RESOURCE_TYPES = ("clusters", "listeners", "routes")
REASON_WIDTH = 100
"""Long reasons (a verdict's evidence) are cut in the table; --json has them whole."""


@click.command()
@click.argument("service", required=False)
@output_option
def history(service: str | None, output: str) -> None:
    """Every change (of SERVICE) in ledger order: who made it, what moved, and why."""
    params = {"service": service} if service else None
    data = api_client().get("/v1/history", params)
    if output != "table":
        emit(data, output)
        return
    # The models are loaded here, for the table only: the other commands start without them.
    from pydantic import TypeAdapter

    from controlplane.model import Entry

    entries = TypeAdapter(list[Entry]).validate_python(data)
    if not entries:
        click.echo("the ledger is empty")
        return
    headers = ["SEQ", "TIME", "ACTOR", "SERVICE", "INSTANCE", "CHANGE", "REASON"]
    click.echo(table(headers, [_history_row(entry) for entry in entries]))
    from controlplane.cli._value import objective_lines, value_totals

    for line in objective_lines(entries):  # business objectives and values (cli/_value.py)
        click.echo(line)
    for line in _cost_totals(entries) + value_totals(entries):
        click.echo(line)


def _cost_totals(entries: list[Entry]) -> list[str]:
    """What judged changes cost each service: extra failures times the cost of one failure."""
    from controlplane.model import VerdictRecorded

    totals: dict[str, tuple[float, float, int]] = {}
    for entry in entries:
        if isinstance(entry.event, VerdictRecorded):
            verdict = entry.event.verdict
            cost, extra, judged = totals.get(entry.event.service, (0.0, 0.0, 0))
            totals[entry.event.service] = (
                cost + verdict.cost,
                extra + verdict.extra_failures,
                judged + 1,
            )
    return [
        f"{service}: {judged} changes judged, {extra:.0f} extra failed requests, cost {cost:.2f}"
        for service, (cost, extra, judged) in sorted(totals.items())
    ]


def _acked(acked: dict[str, str], resource_type: str) -> str | None:
    """The version a proxy ACKed of one type. A delta proxy's routing comes as virtual hosts
    (VHDS) beside a route configuration that never changes: its virtual hosts say how current
    its routes are."""
    if resource_type == "routes" and "virtual_hosts" in acked:
        return acked["virtual_hosts"]
    return acked.get(resource_type)


def _history_row(entry: Entry) -> list[str]:
    from controlplane.cli._value import verdict_suffix
    from controlplane.model import (
        ActivationChanged,
        InstanceRegistered,
        ServiceApplied,
        TokenCreated,
        TokenRevoked,
        VerdictRecorded,
    )

    event = entry.event
    if isinstance(event, ServiceApplied):
        service, instance, change = event.spec.name, "-", "service applied"
    elif isinstance(event, InstanceRegistered):
        item = event.instance
        service, instance = item.service, item.id
        change = f"registered {item.version} at {item.address}"
    elif isinstance(event, VerdictRecorded):
        verdict = event.verdict
        service, instance = event.service, event.instance_id
        change = f"verdict {verdict.outcome.value} on #{event.change_seq}"
        # Both figures: the evidence counts every attempt (retries included); the cost, what
        # callers finally got (none for a shadow).
        change += f": {verdict.candidate.errors}/{verdict.candidate.requests} attempts failed"
        if verdict.callers is not None:
            change += f", callers {verdict.callers.errors}/{verdict.callers.requests}"
        if verdict.cost:
            change += f", cost {verdict.cost:.2f}"
        change += verdict_suffix(verdict)
    elif isinstance(event, ActivationChanged):
        service, instance = event.service, event.instance_id
        change = event.move()
        if event.forced:
            change += " (forced)"
        if event.budget_override:
            change += " (error budget overridden)"
        if event.rollout_id:
            change += f" [rollout {event.rollout_id}]"
    elif isinstance(event, TokenCreated | TokenRevoked):
        service, instance, change = "-", "-", event.describe()
    else:
        service, instance, change = event.service, "-", event.describe()
    reason = (
        entry.reason
        if len(entry.reason) <= REASON_WIDTH
        else entry.reason[: REASON_WIDTH - 1] + "…"
    )
    return [str(entry.seq), when(entry.at), entry.actor, service, instance, change, reason]


@click.command()
@output_option
def proxies(output: str) -> None:
    """Connected Envoys: the version of each resource type each acknowledged or rejected, and
    whether each holds the current state (SYNC: `current`, or `behind 12.3s`)."""
    data: list[dict[str, Any]] = api_client().get("/v1/proxies")
    if output != "table":
        emit(data, output)
        return
    if not data:
        click.echo("no proxies connected")
        return
    headers = [
        "NODE",
        "CLUSTER",
        "PROTOCOL",
        "PEER",
        "CONNECTED",
        *(t.upper() for t in _RESOURCE_TYPES),
        "SYNC",
        "NACKS",
    ]
    rows = [
        [
            proxy["node_id"],
            proxy["node_cluster"],
            proxy["protocol"],
            proxy["peer"],
            when(proxy["connected_at"]),
            *(short_version(_acked(proxy["acked"], t)) for t in _RESOURCE_TYPES),
            paint(_sync(proxy), "good" if proxy.get("in_sync") else "bad"),
            str(proxy["nacks"]),
        ]
        for proxy in data
    ]
    click.echo(table(headers, rows))
    # Envoy's rejection messages are long; they read better on lines of their own.
    for proxy in data:
        if nack := proxy.get("last_nack"):
            click.echo(
                f"\n{proxy['node_id']} rejected {nack['type']} version "
                f"{short_version(nack['version'])} at {when(nack['at'])}: {nack['message']}"
            )


def _sync(proxy: dict[str, Any]) -> str:
    """`current`, or how long the proxy has lacked the current snapshot."""
    if proxy.get("in_sync"):
        return "current"
    behind = proxy.get("behind_seconds")
    return "behind" if behind is None else f"behind {behind:.1f}s"
