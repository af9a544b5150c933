"""`weir budget SERVICE`: the SLO, the error budget left, burn rates and the freeze."""

from __future__ import annotations

from typing import Any

import click

from controlplane.cli._client import segment
from controlplane.cli._errors import CliError
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import emit, paint, table, value_lines
from controlplane.units import format_duration


@click.command()
@click.argument("service")
@output_option
def budget(service: str, output: str) -> None:
    """SERVICE's SLO, error budget left over its window, burn rates, and whether new live
    traffic is frozen."""
    data: dict[str, Any] = api_client().get(f"/v1/services/{segment(service)}/budget")
    if output != "table":
        emit(data, output)
        return
    window = format_duration(data["window_s"])
    click.echo(f"service {data['service']}: SLO {data['success_rate']:g}% over {window}")
    if data["remaining"] is None:
        click.echo(f"  budget: not enough traffic yet ({data['requests']:.0f} requests)")
    else:
        click.echo(
            f"  budget: {100 * data['remaining']:.1f}% left — {data['errors']:.0f} failed of "
            f"{data['requests']:.0f} requests, {data['allowed_failures']:.1f} allowed"
        )
    rows = [
        [
            f"  {format_duration(r['long_window_s'])}/{format_duration(r['short_window_s'])}",
            f"{r['threshold']:g}x",
            _rate(r["long"]),
            _rate(r["short"]),
            paint("ALERT" if r["alerting"] else "ok"),
        ]
        for r in data["burn_rates"]
    ]
    click.echo(table(["  WINDOWS", "THRESHOLD", "LONG", "SHORT", "STATE"], rows))
    if data["frozen"]:
        click.echo(
            f"  {paint('FROZEN')}: new live activations are refused; deactivations and "
            "rollbacks work; --override-budget proceeds (recorded)"
        )
    if data.get("split"):
        state = paint("MISMATCH" if data["split_mismatch"] else "ok")
        click.echo(f"  split: {state} — {data['split']}")
    if data.get("stats_error"):
        click.echo(f"  stats: {data['stats_error']}")
    _values(service)


def _values(service: str) -> None:
    """The value of the service's changes: those being judged, and the ledger's totals. Read
    from the JSON as it comes: the models load only for a change with objectives or a value."""
    client = api_client()
    try:
        evaluations: list[dict[str, Any]] = client.get("/v1/evaluations")
    except CliError:  # a server without an evaluator (--stats off) judges nothing
        evaluations = []
    if any(_valued(e.get("verdict")) for e in evaluations if e.get("service") == service):
        from controlplane.cli._value import open_values

        opened = open_values(evaluations, service)
        if opened:
            click.echo("  changes being judged:")
            for line in opened:
                click.echo(line)
    history: list[dict[str, Any]] = client.get("/v1/history", {"service": service})
    realized = [
        (event["service"], float(event["verdict"]["value"]["realized"]))
        for event in (entry.get("event") or {} for entry in history)
        if event.get("kind") == "verdict_recorded" and (event.get("verdict") or {}).get("value")
    ]
    for line in value_lines(realized):
        click.echo(f"  {line}")


def _valued(verdict: dict[str, Any] | None) -> bool:
    return bool(verdict and (verdict.get("objectives") or verdict.get("value")))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
