"""`weir service …`: the services weir routes, one in full, and deleting one."""

from __future__ import annotations

from typing import Any

import click

from controlplane.cli._client import segment
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import emit, table


@click.group()
def service() -> None:
    """Services: list, show and delete them (`weir apply -f` creates and changes them)."""


@service.command("list")
@output_option
def list_services(output: str) -> None:
    """Every service: its domains, routes, SLO and rollout strategy."""
    specs: list[dict[str, Any]] = api_client().get("/v1/services")
    if output != "table":
        emit(specs, output)
        return
    if not specs:
        click.echo("no services (weir apply -f SERVICE.yaml creates one)")
        return
    rows = [
        [
            spec["name"],
            ",".join(spec.get("domains") or []) or "-",
            str(len(spec.get("routes") or [])) or "0",
            f"{spec['slo']['success_rate']:g}%",
            spec["rollout"]["strategy"],
        ]
        for spec in specs
    ]
    click.echo(table(["NAME", "DOMAINS", "ROUTES", "SLO", "STRATEGY"], rows))


@service.command("show")
@click.argument("name")
@output_option
def show(name: str, output: str) -> None:
    """NAME's policy as the server holds it, defaults filled in (YAML unless -o json)."""
    spec = api_client().get(f"/v1/services/{segment(name)}")
    emit(spec, "yaml" if output == "table" else output)


@service.command("delete")
@click.argument("name")
@click.option("--reason", default="", help="Why, for the ledger.")
@output_option
def delete(name: str, reason: str, output: str) -> None:
    """Delete service NAME: its virtual host leaves every Envoy and its instances that are left
    (inactive or shadow) are retired, in one batch. Refused while any instance of it is live
    or a rollout of it runs. Its history stays in the ledger; its instance ids stay taken."""
    entries: list[dict[str, Any]] = api_client().delete(
        f"/v1/services/{segment(name)}", {"reason": reason}
    )
    if output != "table":
        emit(entries, output)
        return
    retired = [e["event"]["instance_id"] for e in entries[:-1]]
    also = f"; retired {', '.join(retired)}" if retired else ""
    seqs = (
        f"{entries[0]['seq']}" if len(entries) == 1 else f"{entries[0]['seq']}-{entries[-1]['seq']}"
    )
    click.echo(
        f"deleted service {name}{also} (ledger {'entry' if len(entries) == 1 else 'entries'} "
        f"{seqs})"
    )
