"""`weir demo-instance`: one demo upstream in the foreground, as docker-compose runs them.

It is the server `weir demo` starts in-process for each instance: every answer's body is the
instance id, and a share of requests can fail or be slow on purpose. It stops on SIGTERM (what
`docker compose down` sends) or SIGINT, and exits 0.
"""

from __future__ import annotations

import signal

import click

from controlplane.cli._errors import CliError
from controlplane.cli._options import listen_address

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def _host_and_port(listen: str) -> tuple[str, int]:
    """('0.0.0.0', 8000) from '0.0.0.0:8000', ('::', 0) from '[::]:0' (already checked)."""
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


@click.command("demo-instance")
@click.option("--id", "instance_id", required=True, help="The body of every answer.")
@click.option(
    "--listen",
    required=True,
    callback=listen_address,
    metavar="HOST:PORT",
    help="Where to accept HTTP; 0.0.0.0 in a container, port 0 picks a free one.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="The share of requests answered with --error-status (0.3: 30%).",
)
@click.option(
    "--error-status",
    type=click.IntRange(100, 599),
    default=500,
    show_default=True,
    help="The status of a failed request.",
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Slept before every answer.",
)
def demo_instance(
    instance_id: str, listen: str, error_rate: float, error_status: int, delay: float
) -> None:
    """Serve one demo instance until SIGTERM or SIGINT: every answer's body is its id, and
    --error-rate of them fail with --error-status."""
    from controlplane.harness import Upstream

    host, port = _host_and_port(listen)
    upstream = Upstream(
        instance_id,
        host=host,
        port=port,
        error_rate=error_rate,
        error_status=error_status,
        delay=delay,
    )
    # Blocked before the server's threads start, so they inherit the mask and the stop signals
    # wait, pending, for sigwait below: no handler runs in the middle of anything.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        try:
            upstream.start()
        except OSError as exc:
            message = f"demo instance {instance_id}: cannot listen on {listen}: {exc}"
            raise CliError(message) from exc
        try:
            failing = f", {error_rate:.0%} answered {error_status}" if error_rate else ""
            slow = f", {delay:g}s delay" if delay else ""
            click.echo(f"demo instance {instance_id} serving on {upstream.address}{failing}{slow}")
            received = signal.Signals(signal.sigwait(STOP_SIGNALS))
        finally:
            upstream.stop()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    counts = upstream.counts()
    click.echo(
        f"demo instance {instance_id}: {received.name}, stopped after {counts.primary} requests "
        f"and {counts.mirrored} mirrored"
    )
