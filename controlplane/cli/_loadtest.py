"""`weir loadtest SERVICE --rps N --duration D`: load through an Envoy, and who served it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from controlplane import defaults
from controlplane.cli._errors import REFUSED, UNREACHABLE, USAGE, CliError
from controlplane.cli._options import address_option, api_client, output_option
from controlplane.cli._output import emit, paint, table, when
from controlplane.describe import change_text
from controlplane.units import parse_duration, split_address

if TYPE_CHECKING:
    from controlplane.loadtest import Change


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
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise click.BadParameter("a path has no spaces or control characters", ctx, param)
    return value


def _headers(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    from controlplane.loadtest import LoadError, check_headers

    pairs = []
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME:VALUE", ctx, param)
        pairs.append((name.strip(), text.strip()))
    try:
        check_headers(tuple(pairs))
    except LoadError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc
    return tuple(pairs)


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
    help="The path (and query) every request asks for.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    callback=_headers,
    metavar="NAME:VALUE",
    help="A header every request carries, e.g. x-tenant:beta for a route that matches it. "
    "Repeatable; Host:NAME replaces the service name as the Host.",
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
    headers: tuple[tuple[str, str], ...],
    concurrency: int,
    timeout_s: float,
    output: str,
) -> None:
    """Drive HTTP load at SERVICE through an Envoy listener, then report what each instance
    served of it beside what the callers saw, and what changed meanwhile.

    Each request carries the x-weir-loadtest header, and the proxy (weir's listener) names the
    instance that answered it: only this run's requests are counted, whatever other traffic
    flows. Shadows' mirrored copies come from the proxy's per-cluster stats. The instances'
    roles, and any change to them during the run with its reason (an evaluator's rollback
    names the verdict), come from the weir server. Exits 1 when a check fails: the callers'
    answers did not all come from live instances, a shadow did not get its mirrored share, or
    the live split is off its weights.
    """
    # Imported here: the rest of the CLI does without the load machinery.
    import secrets

    import uvloop

    from controlplane.loadtest import (
        AdminUnavailable,
        InstanceRole,
        LoadError,
        LoadPlan,
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
        headers=headers,
        tag=f"run-{secrets.token_hex(6)}",
    )
    try:
        plan.check()
    except LoadError as exc:
        raise CliError(str(exc), USAGE) from exc
    api = api_client()
    query = {"service": service}
    roles = [InstanceRole.from_api(view) for view in api.get("/v1/instances", query)]
    if not any(role.state == "live" for role in roles):
        raise CliError(f"service {service!r} has no live instance to send load to", REFUSED)
    started_seq = api.get("/healthz")["ledger_seq"]
    try:
        client, counts = uvloop.run(measure(plan, service=service, admin_url=_url_of(admin)))
    except AdminUnavailable as exc:
        raise CliError(str(exc), UNREACHABLE) from exc
    roles_after = [InstanceRole.from_api(view) for view in api.get("/v1/instances", query)]
    moved = api.get("/healthz")["ledger_seq"] > started_seq
    entries = api.get("/v1/history", query) if moved else []
    report = build_report(
        service=service,
        through=through,
        admin=admin,
        plan=plan,
        client=client,
        counts=counts,
        roles=roles,
        roles_after=roles_after,
        changes=changes_since(entries, started_seq),
    )
    if output != "table":
        emit(report.to_json(), output)
    else:
        click.echo("\n".join(render(report.to_json())))
    failed = sum(not check.ok for check in report.checks)
    if failed:
        raise CliError(f"{failed} check(s) failed", REFUSED)


def changes_since(entries: list[dict[str, Any]], seq: int) -> list[Change]:
    """The changes to the service's instances the ledger recorded after entry `seq`: each
    activation change with who made it and why, and each verdict with its reason."""
    from controlplane.loadtest import Change

    found = []
    for entry in entries:
        event = entry["event"]
        if entry["seq"] <= seq or event["kind"] not in ("activation_changed", "verdict_recorded"):
            continue
        if event["kind"] == "activation_changed":
            what = change_text(event)
        else:
            what = f"verdict {event['verdict']['outcome']} on #{event['change_seq']}"
        found.append(
            Change(
                seq=entry["seq"],
                at=when(entry["at"]),
                actor=entry["actor"],
                instance=event["instance_id"],
                what=what,
                reason=entry["reason"],
            )
        )
    return found


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
                str(row["primary"]),
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
        "(PRIMARY: this run's requests each instance answered, as the proxy named it, with "
        "their statuses and latency as the callers saw them; SHADOW: mirrored copies the "
        f"proxy completed during the run, of all its traffic (it completed "
        f"{data['proxy_live_requests']} live requests meanwhile), latency from its stats)"
    )
    by_proxy = client.get("answered_by_proxy") or {}
    if by_proxy:
        codes = ", ".join(f"{code}: {n}" for code, n in by_proxy.items())
        lines.append(f"answered by the proxy itself, naming no instance — {codes}")
    if data["changes"]:
        lines.append("")
        lines.append("changed during the run:")
        for change in data["changes"]:
            why = f" — {change['reason']}" if change["reason"] else ""
            lines.append(
                f"  #{change['seq']} {change['at']} {change['actor']}: {change['instance']} "
                f"{change['what']}{why}"
            )
    lines.append("")
    lines.append("checks:")
    for check in data["checks"]:
        mark = paint("ok  ", "good") if check["ok"] else paint("FAIL", "bad")
        lines.append(f"  {mark}  {check['what']}")
    return lines
