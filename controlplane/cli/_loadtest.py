"""`weir loadtest SERVICE --rps N --duration D`: load through an Envoy, and who served it."""

from __future__ import annotations

from typing import Any

import click

from controlplane import defaults
from controlplane.cli._errors import REFUSED, UNREACHABLE, USAGE, CliError
from controlplane.cli._options import address_option, api_client, output_option
from controlplane.cli._output import emit, table
from controlplane.units import parse_duration, split_address


def _url_of(address: str) -> str:
    host, port = split_address(address)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith("/"):
        raise click.BadParameter("a path starts with /", ctx, param)
    return value


@click.command()
@click.argument("service")
@click.option(
    "--rps",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Requests per second, sent on schedule (open loop).",
)
@click.option(
    "--duration",
    "duration_s",
    callback=_duration,
    required=True,
    metavar="DURATION",
    help="How long to send, e.g. 30s or 2m.",
)
@address_option(
    "--through",
    defaults.SIDECAR_LISTEN,
    "The Envoy listener to send through; the Host header is SERVICE.",
)
@address_option(
    "--admin",
    defaults.ENVOY_ADMIN,
    "That Envoy's admin, whose per-instance cluster stats are read before and after.",
)
@click.option(
    "--path",
    default="/",
    show_default=True,
    callback=_path,
    help="The path every request asks for.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=64,
    show_default=True,
    help="Most requests in flight at once.",
)
@click.option(
    "--timeout",
    "timeout_s",
    callback=_duration,
    default="5s",
    show_default=True,
    metavar="DURATION",
    help="Per request.",
)
@output_option
def loadtest(
    service: str,
    rps: float,
    duration_s: float,
    through: str,
    admin: str,
    path: str,
    concurrency: int,
    timeout_s: float,
    output: str,
) -> None:
    """Drive HTTP load at SERVICE through an Envoy listener, then report what each instance
    got (live and shadow, from the proxy's per-cluster stats) beside what the callers saw.

    The instances' roles come from the weir server. Exits 1 when a check fails: the callers'
    answers did not all come from live instances, a shadow did not get its mirrored share, or
    the live split is off its weights.
    """
    # Imported here: the rest of the CLI does without the load machinery.
    import uvloop

    from controlplane.loadtest import (
        AdminUnavailable,
        LoadError,
        LoadPlan,
        Role,
        build_report,
        measure,
    )

    plan = LoadPlan(
        url=_url_of(through) + path,
        host=service,
        rps=rps,
        duration_s=duration_s,
        concurrency=concurrency,
        timeout_s=timeout_s,
    )
    try:
        plan.check()
    except LoadError as exc:
        raise CliError(str(exc), USAGE) from exc
    api = api_client()
    query = {"service": service}
    roles = [Role.from_api(view) for view in api.get("/v1/instances", query)]
    if not any(role.state == "live" for role in roles):
        raise CliError(f"service {service!r} has no live instance to send load to", REFUSED)
    try:
        client, counts = uvloop.run(measure(plan, service=service, admin_url=_url_of(admin)))
    except AdminUnavailable as exc:
        raise CliError(str(exc), UNREACHABLE) from exc
    roles_after = [Role.from_api(view) for view in api.get("/v1/instances", query)]
    report = build_report(
        service=service,
        through=through,
        admin=admin,
        plan=plan,
        client=client,
        counts=counts,
        roles=roles,
        roles_after=roles_after,
    )
    if output != "table":
        emit(report.to_json(), output)
    else:
        click.echo("\n".join(render(report.to_json())))
    failed = sum(not check.ok for check in report.checks)
    if failed:
        raise CliError(f"{failed} check(s) failed", REFUSED)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(data: dict[str, Any]) -> list[str]:
    """The report for people, from its JSON form (so both outputs say the same)."""
    client = data["client"]
    asked = data["asked"]
    lines = [
        f"loadtest {data['service']} through {data['through']} (stats from {data['admin']}): "
        f"{asked['rps']:g} rps for {asked['duration_s']:g}s asked, {client['sent']} sent in "
        f"{client['elapsed_s']:.1f}s ({client['sent_rps']:.1f} rps)"
    ]
    statuses = ", ".join(f"{code}: {n}" for code, n in client["statuses"].items()) or "none"
    errors = ", ".join(f"{name}: {n}" for name, n in client["errors"].items())
    latency = client["latency_ms"]
    lines.append(f"callers: {client['answered']} answered — {statuses}")
    if errors or client["cancelled"]:
        lines.append(f"  no answer — {errors or 'none'}; cancelled at the time bound: "
                     f"{client['cancelled']}")  # fmt: skip
    if latency:
        lines.append("  latency " + ", ".join(f"{k} {v:.2f} ms" for k, v in latency.items()))
    if client["max_lag_ms"] >= 100:
        lines.append(
            f"  the schedule fell up to {client['max_lag_ms']:.0f} ms behind: --concurrency "
            "or the client was the limit, not the proxy"
        )
    lines.append("")
    rows = []
    for row in data["instances"]:
        classes = row["classes"]
        rows.append(
            [
                row["id"],
                row["version"],
                row["asked"],
                str(row["primary"]) if row["role"] != "shadow" else "-",
                str(row["shadow"]) if row["role"] == "shadow" else "-",
                str(classes.get("2xx", 0)),
                str(classes.get("3xx", 0) + classes.get("1xx", 0)),
                str(classes.get("4xx", 0)),
                str(classes.get("5xx", 0)),
                _ms(row["p50_ms"]),
                _ms(row["p99_ms"]),
            ]
        )
    headers = ["INSTANCE", "VERSION", "ASKED", "PRIMARY", "SHADOW", "2XX", "1/3XX", "4XX", "5XX",
               "P50 MS", "P99 MS"]  # fmt: skip
    lines.append(table(headers, rows))
    lines.append(
        "(per instance: the proxy's cluster stats; latency is Envoy's upstream time, "
        "interpolated within its histogram buckets)"
    )
    if data["changed_during_run"]:
        lines.append(
            "note: the activation of " + ", ".join(data["changed_during_run"])
            + " changed during the run; their rows mix both roles"
        )  # fmt: skip
    lines.append("")
    lines.append("checks:")
    for check in data["checks"]:
        lines.append(f"  {'ok  ' if check['ok'] else 'FAIL'}  {check['what']}")
    return lines
