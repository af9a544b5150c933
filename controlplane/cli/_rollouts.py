"""`weir rollout …`: start a rollout, watch it, promote, pause, resume or abort it."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from controlplane.cli._client import segment
from controlplane.cli._errors import REFUSED, CliError
from controlplane.cli._options import api_client, json_option, server_option
from controlplane.cli._output import emit_json, table, when
from controlplane.model import Strategy, format_duration, parse_duration, say_duration

BAR_WIDTH = 30
ENDED = ("completed", "rolled_back", "aborted")


@click.group()
def rollout() -> None:
    """Roll a service out to a new version, one measured change at a time."""


def _steps(ctx: click.Context, param: click.Parameter, value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a list of percentages such as 1,5,25,50,100"
        ) from exc


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_duration(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from exc
    return value


def _reason_option(command: Any) -> Any:
    return click.option("--reason", default="", help="Why, for the ledger.")(command)


@rollout.command("start")
@click.argument("service")
@click.option("--version", required=True, help="The version to roll out; its instances exist.")
@click.option(
    "--strategy",
    type=click.Choice([s.value for s in Strategy]),
    help="Default: the service file's rollout.strategy (canary unless set).",
)
@click.option(
    "--steps",
    callback=_steps,
    metavar="1,5,25,50,100",
    help="canary and shadow: percent of live traffic at each step, rising to 100.",
)
@click.option("--bake", callback=_duration, metavar="DURATION", help="Least time at each step.")
@click.option(
    "--grace",
    callback=_duration,
    metavar="DURATION",
    help="How long replaced instances stay inactive (instant rollback) before retiring.",
)
@click.option(
    "--mirror-percent",
    type=click.FloatRange(0, 100, min_open=True),
    help="shadow, and blue-green with --verify-in-shadow: percent of live traffic mirrored.",
)
@click.option(
    "--verify-in-shadow/--no-verify-in-shadow",
    default=None,
    help="blue-green: judge green in shadow before the switch.",
)
@click.option(
    "--decide-within",
    callback=_duration,
    metavar="DURATION",
    help="How long each step may wait for its verdict (default: the service file's, 10m).",
)
@click.option(
    "--accept-risk/--no-accept-risk",
    default=None,
    help="Go on from a step still undecided at --decide-within, the risk recorded.",
)
@_reason_option
@server_option
@json_option
def start(
    service: str,
    version: str,
    strategy: str | None,
    steps: list[float] | None,
    bake: str | None,
    grace: str | None,
    mirror_percent: float | None,
    verify_in_shadow: bool | None,
    decide_within: str | None,
    accept_risk: bool | None,
    reason: str,
    server: str | None,
    as_json: bool,
) -> None:
    """Start rolling SERVICE out to --version. Options left out come from the service file.

    The server takes each step when the last one has baked and its verdict passed, and rolls
    everything back on a failing verdict. It prints how long each step should take to pass at
    the service's current traffic, and refuses (naming the options) a plan whose steps cannot
    be expected to pass within --decide-within. Follow it with `weir rollout status SERVICE
    --watch`.
    """
    body: dict[str, Any] = {"service": service, "version": version, "reason": reason}
    options = {
        "strategy": strategy,
        "steps": steps,
        "bake": bake,
        "grace": grace,
        "mirror_percent": mirror_percent,
        "verify_in_shadow": verify_in_shadow,
        "decide_within": decide_within,
        "accept_risk": accept_risk,
    }
    body |= {name: value for name, value in options.items() if value is not None}
    entry = api_client(server).post("/v1/rollouts", body)
    if as_json:
        emit_json(entry)
        return
    event = entry["event"]
    click.echo(
        f"started rollout {event['rollout_id']}: {_plan_text(event['plan'])} of {service} to "
        f"{version} (ledger entry {entry['seq']})"
    )
    for line in forecast_lines(event):
        click.echo(line)
    click.echo(f"follow it with: weir rollout status {service} --watch")


def forecast_lines(event: dict[str, Any]) -> list[str]:
    """Each step's expected time to a pass, as the rollout recorded it at its start."""
    forecast = event.get("forecast") or []
    if not forecast:
        return ["time to a decision: not forecast (too little traffic seen lately to go by)"]
    limit = event["plan"]["decide_within"]
    lines = [f"time to a decision at the current traffic (each step may take {limit}):"]
    for step in forecast:
        seconds = step["seconds"]
        said = (
            f"about {say_duration(seconds)} to pass"
            if seconds is not None
            else "no pass in sight at this traffic"
        )
        late = "" if step["within"] else "  (over; the plan accepts the risk)"
        lines.append(
            f"  step {step['stage'] + 1} ({step['label']}, {100 * step['share']:.3g}% of "
            f"traffic): {said} if as good as the old version{late}"
        )
    return lines


def _plan_text(plan: dict[str, Any]) -> str:
    parts: list[str] = [str(plan["strategy"])]
    if "mirror_percent" in plan and (plan["strategy"] == "shadow" or plan.get("verify_in_shadow")):
        parts.append(f"shadow {plan['mirror_percent']:g}% first")
    if "steps" in plan:
        parts.append("steps " + ", ".join(f"{s:g}%" for s in plan["steps"]))
    parts.append(f"bake {plan['bake']}")
    if "decide_within" in plan:
        parts.append(f"decide within {plan['decide_within']}")
    if plan.get("accept_risk"):
        parts.append("accepting the risk of undecided steps")
    parts.append(f"grace {plan['grace']}")
    return parts[0] + " (" + "; ".join(parts[1:]) + ")"


@rollout.command("status")
@click.argument("service")
@click.option("--watch", is_flag=True, help="Redraw every second until the rollout ends.")
@click.option(
    "--timeout",
    default="1h",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="With --watch: stop watching after this long.",
)
@click.option("--interval", default=1.0, type=float, hidden=True)
@server_option
@json_option
def status(
    service: str,
    watch: bool,
    timeout: str,
    interval: float,
    server: str | None,
    as_json: bool,
) -> None:
    """The rollout of SERVICE in progress (else its last): step, traffic shares, per-instance
    requests, errors and p99, the current verdict, and the time to the next step.

    With --watch, exits 0 when the rollout completes and 1 when it is rolled back or aborted.
    """
    client = api_client(server)
    path = f"/v1/rollouts/{segment(service)}"
    data = client.get(path)
    if not watch:
        if as_json:
            emit_json(data)
        else:
            click.echo(render(data))
        return
    deadline = time.monotonic() + parse_duration(timeout)
    tty = sys.stdout.isatty() and not as_json
    shown = ""
    while True:
        frame = _json_line(data) if as_json else render(data)
        if tty:
            click.echo("\x1b[H\x1b[2J" + frame)  # redraw in place
        elif frame != shown:
            click.echo(frame + ("" if as_json else "\n"))
        shown = frame
        if data["state"] in ENDED:
            break
        if time.monotonic() >= deadline:
            raise CliError(
                f"rollout {data['id']} is still {data['state']} after {timeout}; "
                f"`weir rollout status {service} --watch` watches on"
            )
        time.sleep(interval)
        data = client.get(path)
    if data["state"] != "completed":
        raise CliError(f"rollout {data['id']} {data['state'].replace('_', ' ')}", REFUSED)


def _json_line(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)


def render(data: dict[str, Any]) -> str:
    """A rollout's status for people: where it is, who gets the traffic, what comes next."""
    state = data["state"].replace("_", " ")
    where = f"step {data['step']} of {data['steps']}"
    if data["step_label"]:
        where += f" ({data['step_label']})"
    lines = [
        f"rollout {data['id']}: {data['strategy']} of {data['service']} to {data['version']}"
        f" — {state}, {where}"
    ]
    share = data["new_version_share"]
    filled = round(share * BAR_WIDTH)
    lines.append(
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:6.1%} of live traffic on "
        f"{data['version']}"
    )
    rows = [
        [
            s["instance_id"],
            s["version"],
            s["role"],
            s["activation"],
            f"{s['live_share']:.1%}" if s["activation"].startswith("live") else "-",
            _count(s["requests"]),
            _count(s["errors"]),
            f"{s['p99_ms']:g}ms" if s["p99_ms"] is not None else "-",
        ]
        for s in data["shares"]
    ]
    headers = ["  INSTANCE", "VERSION", "ROLE", "ACTIVATION", "SHARE", "REQUESTS", "ERRORS", "P99"]
    lines.append(table(headers, [["  " + r[0], *r[1:]] for r in rows]))
    for verdict in data["verdicts"]:
        outcome = verdict["verdict"] or "pending"
        final = "" if verdict["final"] or not verdict["verdict"] else " (so far)"
        if verdict.get("expected_s"):
            final += f", a decision in about {format_duration(round(verdict['expected_s']))}"
        why = f": {verdict['verdict_reason']}" if verdict["verdict_reason"] else ""
        lines.append(
            f"verdict on #{verdict['seq']} ({verdict['instance_id']}): {outcome}{final}{why}"
        )
    upcoming = data["next"]
    if upcoming["action"] == "wait":
        eta = f" (in {format_duration(round(upcoming['in_s']))})" if upcoming["in_s"] else ""
        lines.append(f"next: {upcoming['why']}{eta}")
    elif upcoming["action"] == "advance":
        lines.append("next: the next step is due now")
    if data.get("refused"):
        lines.append(f"refused: {data['refused']}")
    if data.get("driver_running") is False:
        lines.append("note: this server's rollout driver is not running; no step will be taken")
    if data["history"]:
        lines.append("steps:")
        for step in data["history"]:
            changes = "; ".join(
                f"{c['instance_id']} {c['change']}" + (f" [{c['verdict']}]" if c["verdict"] else "")
                for c in step["changes"]
            )
            promoted = " (promoted)" if step["promoted"] else ""
            lines.append(
                f"  {step['stage'] + 1}. {when(step['at'])} {step['label']}{promoted}"
                + (f": {changes}" if changes else "")
            )
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _action(name: str, past: str) -> click.Command:
    @click.command(name)
    @click.argument("service")
    @_reason_option
    @server_option
    @json_option
    def command(service: str, reason: str, server: str | None, as_json: bool) -> None:
        answer = api_client(server).post(
            f"/v1/rollouts/{segment(service)}/{name}", {"reason": reason}
        )
        if as_json:
            emit_json(answer)
            return
        entries = answer if isinstance(answer, list) else [answer]
        first = entries[0]
        event = first["event"]
        text = f"{past} rollout {event['rollout_id']}"
        if name == "promote":
            text = f"promoted step {event['stage'] + 1} of rollout {event['rollout_id']}"
        restored = [
            f"{e['event']['instance_id']} back to {_activation(e['event']['after'])}"
            for e in entries[1:]
        ]
        if restored:
            text += ": " + ", ".join(restored)
        seqs = f"{first['seq']}" if len(entries) == 1 else f"{first['seq']}-{entries[-1]['seq']}"
        click.echo(f"{text} (ledger {'entry' if len(entries) == 1 else 'entries'} {seqs})")

    return command


def _activation(data: dict[str, Any]) -> str:
    from controlplane.model import Activation

    return Activation.model_validate(data).describe()


for _name, _past, _help in (
    ("promote", "promoted", "Skip the rest of the current step's bake and verdict gate."),
    ("pause", "paused", "Hold the rollout where it is (a failing verdict still rolls back)."),
    ("resume", "resumed", "Go on with a paused rollout."),
    (
        "abort",
        "aborted",
        "Roll back: every instance the rollout touched returns to its state before it.",
    ),
):
    _command = _action(_name, _past)
    _command.help = f"{_help} SERVICE names the service."
    rollout.add_command(_command)
