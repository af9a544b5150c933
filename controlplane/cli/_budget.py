"""`weir budget SERVICE`: the SLO, the error budget left, burn rates and the freeze."""

from __future__ import annotations

from typing import Any

import click
from pydantic import TypeAdapter

from controlplane.cli._client import segment
from controlplane.cli._errors import CliError
from controlplane.cli._options import api_client, json_option, server_option
from controlplane.cli._output import emit_json, table
from controlplane.cli._value import open_values, value_totals
from controlplane.model import Entry, format_duration


@click.command()
@click.argument("service")
@server_option
@json_option
def budget(service: str, server: str | None, as_json: bool) -> None:
    """SERVICE's SLO, error budget left over its window, burn rates, and whether new live
    traffic is frozen."""
    data: dict[str, Any] = api_client(server).get(f"/v1/services/{segment(service)}/budget")
    if as_json:
        emit_json(data)
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
            f"{format_duration(r['long_window_s'])}/{format_duration(r['short_window_s'])}",
            f"{r['threshold']:g}x",
            _rate(r["long"]),
            _rate(r["short"]),
            "ALERT" if r["alerting"] else "ok",
        ]
        for r in data["burn_rates"]
    ]
    click.echo(table(["  WINDOWS", "THRESHOLD", "LONG", "SHORT", "STATE"], rows))
    if data["frozen"]:
        click.echo(
            "  FROZEN: new live activations are refused; deactivations and rollbacks work; "
            "--override-budget proceeds (recorded)"
        )
    if data.get("split"):
        state = "MISMATCH" if data["split_mismatch"] else "ok"
        click.echo(f"  split: {state} — {data['split']}")
    if data.get("stats_error"):
        click.echo(f"  stats: {data['stats_error']}")
    _values(service, server)


def _values(service: str, server: str | None) -> None:
    """The value of the service's changes: those being judged, and the ledger's totals."""
    client = api_client(server)
    try:
        opened = open_values(client.get("/v1/evaluations"), service)
    except CliError:  # a server without an evaluator (--stats off) judges nothing
        opened = []
    if opened:
        click.echo("  changes being judged:")
        for line in opened:
            click.echo(line)
    entries = TypeAdapter(list[Entry]).validate_python(
        client.get("/v1/history", {"service": service})
    )
    for line in value_totals(entries):
        click.echo(f"  {line}")


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
