"""`weir serve`: run the control plane in this process until SIGINT or SIGTERM."""

from __future__ import annotations

import logging

import click

from controlplane import defaults
from controlplane.cli._errors import CliError
from controlplane.cli._options import listen_address


@click.command()
@click.option(
    "--store",
    default=defaults.STORE,
    show_default=True,
    metavar="URL",
    help="The ledger: a file path, sqlite:///relative.db or sqlite:////absolute/path.db.",
)
@click.option(
    "--xds",
    default=defaults.XDS,
    show_default=True,
    callback=listen_address,
    metavar="HOST:PORT",
    help="ADS for Envoy; port 0 picks a free one.",
)
@click.option(
    "--api",
    default=defaults.API,
    show_default=True,
    callback=listen_address,
    metavar="HOST:PORT",
    help="The HTTP API; port 0 picks a free one.",
)
def serve(store: str, xds: str, api: str) -> None:
    """Serve the ledger, ADS for the Envoy fleet and the HTTP API, in one process."""
    # Imported here: the server side (grpc, FastAPI, uvicorn) costs every other command time.
    import uvloop

    from controlplane.ledger import open_store
    from controlplane.serve import Listening
    from controlplane.serve import serve as run

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    opened = open_store(store)

    def ready(listening: Listening) -> None:
        click.echo(
            f"weir serving xDS on {listening.xds} and the API on {listening.api_url} "
            f"(ledger {store})"
        )

    try:
        uvloop.run(run(opened, xds=xds, api=api, on_ready=ready))
    except OSError as exc:
        raise CliError(str(exc)) from exc
