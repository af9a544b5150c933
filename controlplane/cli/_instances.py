"""`weir instance …`: register immutable instances and change their activation."""

from __future__ import annotations

from typing import Any

import click

from controlplane.cli._client import segment
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import TONE_OF, emit, paint, share_text, table
from controlplane.describe import activation_text, change_text

FORCE_HELP = (
    "Go past a refusal on purpose (recorded): take the last live instance out of traffic, or "
    "change an instance a running rollout moves, which pauses that rollout."
)


@click.group()
def instance() -> None:
    """Register instances and move them between inactive, shadow, live and retired.

    While a rollout runs, the instances it moves (its new version's and those it replaces) are
    its own: changing one is refused, naming the rollout, until it is paused or aborted, or the
    change is made with --force, which pauses the rollout in the same ledger batch.
    """


def _labels(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        labels[key] = text
    return labels


@instance.command("add")
@click.argument("service")
@click.option("--id", "instance_id", required=True, help="DNS-label style, unique for good.")
@click.option("--version", required=True, help="The artefact version this instance runs.")
@click.option("--address", required=True, metavar="HOST:PORT", help="Where it listens.")
@click.option(
    "--label", "labels", multiple=True, metavar="K=V", callback=_labels, help="Repeatable."
)
@output_option
def add(
    service: str,
    instance_id: str,
    version: str,
    address: str,
    labels: dict[str, str],
    output: str,
) -> None:
    """Register a new immutable instance of SERVICE. It starts inactive: warm, no traffic."""
    body = {
        "id": instance_id,
        "service": service,
        "version": version,
        "address": address,
        "labels": labels,
    }
    view = api_client().post("/v1/instances", body)
    if output != "table":
        emit(view, output)
    else:
        click.echo(
            f"registered {instance_id}: {service} {version} at {address}, inactive "
            f"(ledger entry {view['since_seq']})"
        )


@instance.command("activate")
@click.argument("instance_id", metavar="ID")
@click.option("--live", is_flag=True, help="Real traffic, in proportion to --weight.")
@click.option(
    "--weight",
    type=int,
    help="With --live: its share is weight / sum of live weights. Default: kept if live, else 1.",
)
@click.option("--shadow", is_flag=True, help="A mirrored copy of live traffic; answers dropped.")
@click.option(
    "--mirror-percent",
    type=float,
    help="With --shadow: percent of live traffic mirrored. Default: kept if shadow, else 100.",
)
@click.option("--inactive", is_flag=True, help="No traffic; stays warm in Envoy.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option(
    "--override-budget",
    is_flag=True,
    help="Send new live traffic although the error budget is exhausted (recorded).",
)
@click.option("--reason", default="", help="Why, for the ledger.")
@output_option
def activate(
    instance_id: str,
    live: bool,
    weight: int | None,
    shadow: bool,
    mirror_percent: float | None,
    inactive: bool,
    force: bool,
    override_budget: bool,
    reason: str,
    output: str,
) -> None:
    """Change the activation of instance ID: one change, recorded in the ledger."""
    chosen = [
        name for name, on in (("live", live), ("shadow", shadow), ("inactive", inactive)) if on
    ]
    if len(chosen) != 1:
        raise click.UsageError("choose exactly one of --live, --shadow or --inactive")
    if weight is not None and not live:
        raise click.UsageError("--weight goes with --live")
    if mirror_percent is not None and not shadow:
        raise click.UsageError("--mirror-percent goes with --shadow")
    body: dict[str, Any] = {"state": chosen[0], "force": force, "reason": reason}
    if override_budget:
        body["override_budget"] = True
    if weight is not None:
        body["weight"] = weight
    if mirror_percent is not None:
        body["mirror_percent"] = mirror_percent
    entry = api_client().post(f"/v1/instances/{segment(instance_id)}/activation", body)
    _report_change(entry, output)


@instance.command("retire")
@click.argument("instance_id", metavar="ID")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--reason", default="", help="Why, for the ledger.")
@output_option
def retire(instance_id: str, force: bool, reason: str, output: str) -> None:
    """Retire instance ID for good: it leaves Envoy. Deactivate a live instance first."""
    body = {"force": force, "reason": reason}
    entry = api_client().post(f"/v1/instances/{segment(instance_id)}/retire", body)
    _report_change(entry, output)


def _report_change(entry: dict[str, Any], output: str) -> None:
    if output != "table":
        emit(entry, output)
        return
    event = entry["event"]
    forced = ", forced" if event.get("forced") else ""
    if event.get("budget_override"):
        forced += ", error budget overridden"
    ledger = f"ledger entry {entry['seq']}{forced}"
    click.echo(f"{event['instance_id']}: {change_text(event)} ({ledger})")
    paused = entry.get("rollout_paused")
    if paused:
        rollout, service = paused["event"]["rollout_id"], paused["event"]["service"]
        click.echo(
            f"rollout {rollout} paused (ledger entry {paused['seq']}): it holds until "
            f"`weir rollout resume {service}` (its next step may change {event['instance_id']} "
            f"again) or `weir rollout abort {service}` (rolls it back)"
        )


@instance.command("list")
@click.argument("service", required=False)
@output_option
def list_instances(service: str | None, output: str) -> None:
    """Every instance (of SERVICE), its activation and its share of live traffic."""
    params = {"service": service} if service else None
    views = api_client().get("/v1/instances", params)
    if output != "table":
        emit(views, output)
        return
    if not views:
        click.echo(f"no instances of {service}" if service else "no instances")
        return
    rows = []
    for view in views:
        item = view["instance"]
        activation = view["activation"]
        share = share_text(view["live_share"]) if activation["state"] == "live" else "-"
        labels = ",".join(f"{k}={v}" for k, v in sorted(item["labels"].items())) or "-"
        rows.append(
            [
                item["id"],
                item["service"],
                item["version"],
                item["address"],
                paint(activation_text(activation), TONE_OF.get(activation["state"])),
                share,
                f"#{view['since_seq']}",
                labels,
            ]
        )
    headers = ["ID", "SERVICE", "VERSION", "ADDRESS", "ACTIVATION", "SHARE", "SINCE", "LABELS"]
    click.echo(table(headers, rows))
