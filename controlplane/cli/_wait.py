"""`weir wait`: until the server answers (and, with --proxies N, until N proxies hold its
current state). For scripts that start `weir serve` and Envoys in the background."""

from __future__ import annotations

import time

import click

from controlplane.cli._errors import UNREACHABLE, CliError
from controlplane.cli._options import api_client
from controlplane.units import format_duration, parse_duration

POLL_S = 0.1


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


@click.command()
@click.option(
    "--proxies",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also wait until this many proxies are connected and hold the current state.",
)
@click.option(
    "--timeout",
    "timeout_s",
    default="30s",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Give up after this long (exit 3).",
)
def wait(proxies: int, timeout_s: float) -> None:
    """Wait until the weir server answers and takes the token (and, with --proxies N, until N
    proxies hold its current state). Exits 3 if that does not happen within --timeout."""
    deadline = time.monotonic() + timeout_s
    why = ""
    while True:
        # Anew each time: the token `weir serve` saves at its first start may come meanwhile.
        client = api_client()
        try:
            health = client.get("/healthz")
            client.get("/v1/whoami")  # the token works too
            views = client.get("/v1/proxies") if proxies else []
        except CliError as exc:
            if exc.exit_code != UNREACHABLE and not exc.retryable and client.has_token:
                raise
            why = exc.message
        else:
            current = sum(1 for view in views if view.get("in_sync"))
            if current >= proxies:
                held = (
                    f"; {current} {'proxy holds' if current == 1 else 'proxies hold'} its "
                    "current state"
                    if proxies
                    else ""
                )
                click.echo(
                    f"weir is up at {client.server} (ledger entry {health['ledger_seq']}){held}"
                )
                return
            why = f"{current} of {proxies} proxies hold the current state ({len(views)} connected)"
        if time.monotonic() >= deadline:
            raise CliError(f"still waiting after {format_duration(timeout_s)}: {why}", UNREACHABLE)
        time.sleep(POLL_S)
