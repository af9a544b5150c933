"""`weir rollout …`: start a rollout, watch it, promote, pause, resume or abort it."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from controlplane.cli._client import segment
from controlplane.cli._errors import REFUSED, UNREACHABLE, CliError
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import TONE_OF, emit, paint, share_text, table, when
from controlplane.describe import ARROW, activation_text
from controlplane.units import format_duration, parse_duration, say_duration

BAR_WIDTH = 30
ENDED = ("completed", "rolled_back", "aborted")
STRATEGIES = ("canary", "partial", "blue-green", "shadow")
"""controlplane.model.Strategy's values (tests/cli/test_startup.py checks)."""
RETRY_S = (0.5, 1.0, 2.0, 5.0)
"""--watch's pauses between attempts while the server cannot be reached (then every 5 s)."""


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
    type=click.Choice(STRATEGIES),
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
@output_option
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
    output: str,
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
    entry = api_client().post("/v1/rollouts", body)
    if output != "table":
        emit(entry, output)
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
    left_out = event.get("left_out") or []
    if left_out:
        took = " and ".join(
            f"{s['label']} about {say_duration(s['seconds'])}"
            if s["seconds"] is not None
            else f"{s['label']} more than a month"
            for s in left_out
        )
        lines.append(
            f"the default steps start at {_plan_steps(event)[0]:g}%: at this traffic "
            f"{took} to pass, more than half of the {limit} a step may take (name the steps "
            "with --steps to keep them)"
        )
    return lines


def _plan_steps(event: dict[str, Any]) -> list[float]:
    steps: list[float] = event["plan"]["steps"]
    return steps


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
@click.option(
    "--watch",
    is_flag=True,
    help="Redraw every second until the rollout ends, reconnecting through server outages.",
)
@click.option(
    "--timeout",
    default="1h",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="With --watch: stop watching after this long.",
)
@click.option("--interval", default=1.0, type=float, hidden=True)
@output_option
def status(service: str, watch: bool, timeout: str, interval: float, output: str) -> None:
    """The rollout of SERVICE in progress (else its last): step, traffic shares, per-instance
    requests, errors and p99, the current verdict, and the time to the next step.

    With --watch, exits 0 when the rollout completes and 1 when it is rolled back or aborted;
    while the server cannot be reached it says so and keeps trying until --timeout.
    """
    client = api_client()
    path = f"/v1/rollouts/{segment(service)}"
    if not watch:
        data = client.get(path)
        if output != "table":
            emit(data, output)
        else:
            click.echo(render(data))
        return
    watcher = _Watch(service, output, deadline=time.monotonic() + parse_duration(timeout))
    # from the first answer on: a watch started while the server restarts waits for it
    data = watcher.fetch(lambda: client.get(path), server=client.server, timeout=timeout)
    while True:
        watcher.show(data)
        if data["state"] in ENDED:
            break
        watcher.check_time(data, timeout)
        time.sleep(interval)
        data = watcher.fetch(lambda: client.get(path), server=client.server, timeout=timeout)
    if data["state"] != "completed":
        raise CliError(f"rollout {data['id']} {data['state'].replace('_', ' ')}", REFUSED)


class _Watch:
    """Frames on the screen (redrawn in place on a terminal, each new one printed otherwise),
    and the outage notices while the server cannot be reached."""

    def __init__(self, service: str, output: str, *, deadline: float) -> None:
        self.service = service
        self.output = output
        self.deadline = deadline
        self.tty = sys.stdout.isatty() and output == "table"
        self.shown = ""
        self.shown_key = ""

    def show(self, data: dict[str, Any], notice: str = "") -> None:
        if self.output == "table":
            frame = render(data)
        else:
            frame = json.dumps(data, sort_keys=True) if self.output == "json" else _yaml(data)
        if self.tty:
            extra = f"\n{paint(notice, 'wait')}" if notice else ""
            click.echo("\x1b[H\x1b[2J" + frame + extra)  # redraw in place
        elif (key := _progress(data)) != self.shown_key:
            # Into a pipe or a file: a frame when the rollout moves, not when its counts do.
            click.echo(frame + ("\n" if self.output == "table" else ""))
            self.shown_key = key
        self.shown = frame

    def check_time(self, data: dict[str, Any], timeout: str) -> None:
        if time.monotonic() >= self.deadline:
            raise CliError(
                f"rollout {data['id']} is still {data['state']} after {timeout}; "
                f"`weir rollout status {self.service} --watch` watches on"
            )

    def fetch(self, get: Callable[[], Any], *, server: str, timeout: str) -> dict[str, Any]:
        """The next answer; through an outage, `reconnecting` until the server answers again
        (or --timeout passes: then the last error, exit 3)."""
        attempt = 0
        down_since: float | None = None
        while True:
            try:
                data: dict[str, Any] = get()
            except CliError as exc:
                if exc.exit_code != UNREACHABLE and not exc.retryable:
                    raise
                if time.monotonic() >= self.deadline:
                    message = f"{exc.message} (gave up after {timeout})"
                    raise CliError(message, exc.exit_code) from exc
                if down_since is None:
                    down_since = time.monotonic()
                    click.echo(f"weir: reconnecting to {server}: {exc.message}", err=True)
                pause = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                attempt += 1
                if self.tty:
                    click.echo(
                        "\x1b[H\x1b[2J" + self.shown + "\n"
                        + paint(f"reconnecting to {server} (attempt {attempt}, "
                                f"{time.monotonic() - down_since:.0f}s)…", "wait")
                    )  # fmt: skip
                time.sleep(min(pause, max(0.0, self.deadline - time.monotonic())))
                continue
            if down_since is not None:
                click.echo(
                    f"weir: reconnected to {server} after {time.monotonic() - down_since:.1f}s",
                    err=True,
                )
            return data


def _progress(data: dict[str, Any]) -> str:
    """What says the rollout moved: its state, step, verdicts' outcomes, what it waits for."""
    upcoming = data["next"]
    return json.dumps(
        [
            data["state"],
            data["step"],
            data.get("step_detail"),
            [(v["seq"], v["verdict"], v["final"]) for v in data["verdicts"]],
            upcoming["action"],
            upcoming["why"],
            data.get("refused"),
            data.get("undone_seq"),
        ]
    )


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(data, sort_keys=False).rstrip()


def render(data: dict[str, Any]) -> str:
    """A rollout's status for people: where it is, who gets the traffic, what comes next."""
    state = data["state"].replace("_", " ")
    where = f"step {data['step']} of {data['steps']}"
    if data["step_label"]:
        where += f" ({data['step_label']})"
    title = f"rollout {data['id']}: {data['strategy']} of {data['service']} to {data['version']}"
    lines = [f"{paint(title, 'head')} — {paint(state, TONE_OF.get(data['state']))}, {where}"]
    if data.get("undone_seq"):
        lines[0] += f", undone (ledger entry {data['undone_seq']})"
    if data.get("step_detail"):
        lines.append(f"  now: {data['step_detail']}")
    share = data["new_version_share"]
    filled = round(share * BAR_WIDTH)
    bar = paint("#" * filled, "good") + paint("." * (BAR_WIDTH - filled), "dim")
    asked = data.get("asked_share")
    also = (
        f" (asked {share_text(asked)})" if asked is not None and abs(asked - share) > 1e-9 else ""
    )
    lines.append(f"[{bar}] {share_text(share)} of live traffic on {data['version']}{also}")
    rows = [
        [
            s["instance_id"],
            s["version"],
            s["role"],
            paint(s["activation"], TONE_OF.get(s["activation"].split()[0])),
            share_text(s["live_share"]) if s["activation"].startswith("live") else "-",
            _count(s["requests"]),
            _count(s["errors"]),
            f"{s['p99_ms']:.3g}ms" if s["p99_ms"] is not None else "-",
        ]
        for s in data["shares"]
    ]
    headers = ["  INSTANCE", "VERSION", "ROLE", "ACTIVATION", "SHARE", "REQUESTS", "ERRORS", "P99"]
    lines.append(table(headers, [["  " + r[0], *r[1:]] for r in rows]))
    for verdict in data["verdicts"]:
        if not verdict["verdict"] and not _into_traffic(verdict["change"]):
            continue  # only changes into traffic (live, shadow) are judged
        outcome = verdict["verdict"] or "pending"
        final = "" if verdict["final"] or not verdict["verdict"] else " (so far)"
        if verdict.get("expected_s"):
            final += f", a decision in about {format_duration(round(verdict['expected_s']))}"
        why = f": {verdict['verdict_reason']}" if verdict["verdict_reason"] else ""
        lines.append(
            f"verdict on #{verdict['seq']} ({verdict['instance_id']}): {paint(outcome)}{final}{why}"
        )
    upcoming = data["next"]
    if upcoming["action"] == "wait":
        eta = f" (in {format_duration(round(upcoming['in_s']))})" if upcoming["in_s"] else ""
        lines.append(f"next: {upcoming['why']}{eta}")
    elif upcoming["action"] == "advance":
        lines.append("next: the next step is due now")
    if grace := data.get("grace"):
        until = f" until {when(grace['until'])}" if grace.get("until") else ""
        left = f" ({format_duration(round(grace['left_s']))} left)" if grace.get("left_s") else ""
        lines.append(
            f"grace: {', '.join(grace['instances'])} kept warm{until}{left}; "
            f"`weir rollout undo {data['service']}` returns to them"
        )
    if data.get("refused"):
        lines.append(paint(f"refused: {data['refused']}", "bad"))
    if data.get("driver_running") is False:
        lines.append("note: this server's rollout driver is not running; no step will be taken")
    if data["history"]:
        lines.append("steps:")
        for step in data["history"]:
            changes = "; ".join(
                f"{c['instance_id']} {c['change']}"
                + (f" [{paint(c['verdict'])}]" if c["verdict"] else "")
                for c in step["changes"]
            )
            promoted = " (promoted)" if step["promoted"] else ""
            number = step.get("step") or step["stage"] + 1
            lines.append(
                f"  {number}. {when(step['at'])} {step['label']}{promoted}"
                + (f": {changes}" if changes else "")
            )
    return "\n".join(lines)


def _into_traffic(change: str) -> bool:
    """Whether a change ("inactive → live weight 25") leaves its instance with traffic."""
    return change.rsplit(ARROW, 1)[-1].strip().startswith(("live", "shadow"))


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _action(name: str, past: str) -> click.Command:
    @click.command(name)
    @click.argument("service")
    @_reason_option
    @output_option
    def command(service: str, reason: str, output: str) -> None:
        answer = api_client().post(f"/v1/rollouts/{segment(service)}/{name}", {"reason": reason})
        if output != "table":
            emit(answer, output)
            return
        entries = answer if isinstance(answer, list) else [answer]
        first = entries[0]
        event = first["event"]
        text = f"{past} rollout {event['rollout_id']}"
        if name == "promote":
            text = f"promoted step {event['stage'] + 1} of rollout {event['rollout_id']}"
        verb = "back to" if name != "undo" else ARROW
        restored = [
            f"{e['event']['instance_id']} {verb} {activation_text(e['event']['after'])}"
            for e in entries[1:]
        ]
        if restored:
            text += ": " + ", ".join(restored)
        seqs = f"{first['seq']}" if len(entries) == 1 else f"{first['seq']}-{entries[-1]['seq']}"
        click.echo(f"{text} (ledger {'entry' if len(entries) == 1 else 'entries'} {seqs})")

    return command


for _name, _past, _help in (
    ("promote", "promoted", "Skip the rest of the current step's bake and verdict gate."),
    ("pause", "paused", "Hold the rollout where it is (a failing verdict still rolls back)."),
    ("resume", "resumed", "Go on with a paused rollout."),
    (
        "abort",
        "aborted",
        "Roll back: every instance the rollout touched returns to its state before it.",
    ),
    (
        "undo",
        "undid",
        "Return to the version before the last rollout, completed, while the instances it "
        "replaced are in their grace (warm, inactive); after it, says how to register the old "
        "version again.",
    ),
):
    _command = _action(_name, _past)
    _command.help = f"{_help} SERVICE names the service."
    rollout.add_command(_command)


@rollout.command("list")
@click.argument("service", required=False)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@output_option
def list_rollouts(service: str | None, limit: int, output: str) -> None:
    """Past and present rollouts (of SERVICE), newest first: version, strategy, how far each
    got and how it ended, who started and finished it."""
    params = {"limit": str(limit)} | ({"service": service} if service else {})
    data: list[dict[str, Any]] = api_client().get("/v1/history/rollouts", params)
    if output != "table":
        emit(data, output)
        return
    if not data:
        click.echo(f"{service} has had no rollout" if service else "no rollouts yet")
        return
    rows = []
    for r in data:
        outcome = r["state"].replace("_", " ")
        if r["undone"]:
            outcome += ", undone"
        elif r["in_grace"]:
            outcome += ", undo possible"
        finished = r["finished"]
        ended = when(finished["at"]) if finished else "-"
        rows.append(
            [
                r["id"],
                r["version"],
                r["strategy"],
                f"{r['steps_taken']}/{r['steps']}",
                paint(outcome, TONE_OF.get(r["state"])),
                when(r["started"]["at"]),
                r["started"]["actor"],
                ended,
                (r["undone_by"] or finished or {}).get("actor", "-"),
            ]
        )
    headers = ["ROLLOUT", "VERSION", "STRATEGY", "STEPS", "OUTCOME", "STARTED", "BY", "ENDED",
               "BY"]  # fmt: skip
    click.echo(table(headers, rows))
    for r in data:
        finished = r["finished"]
        if r["state"] in ("rolled_back", "aborted") and finished and finished["reason"]:
            click.echo(f"{r['id']}: {finished['reason']}")
