"""`weir demo`: the scripted tour with a real controller, real Envoy and two instances."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Run the whole story on this machine: weir serve, a real Envoy, two instances, weights
    shifted one change at a time, and the history. Stops everything it started."""
    from controlplane.demo import run_tour

    run_tour()
