"""What `weir serve` tells the local operator about the admin token it issued at first start."""

from __future__ import annotations

import sys

import click

from controlplane.auth import FIRST_ADMIN, save_local_token


def announce_first_admin(api_url: str, secret: str) -> None:
    """Save the token for the CLI on this machine; show it on a terminal, never in a log."""
    path = save_local_token(api_url, secret)
    click.echo(f"the ledger had no token: issued admin token {FIRST_ADMIN!r}")
    if sys.stdout.isatty():
        click.echo(f"  {secret}")
        click.echo("  (shown this once; weir keeps only its SHA-256)")
    click.echo(
        f"  saved for the weir CLI on this machine in {path} (mode 0600); "
        "more tokens: weir token create NAME --role viewer|operator|admin"
    )
