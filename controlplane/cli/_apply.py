"""`weir apply -f FILE`: create or replace a service from its service file."""

from __future__ import annotations

from typing import IO

import click

from controlplane.cli._client import segment
from controlplane.cli._errors import CliError
from controlplane.cli._options import api_client, json_option, server_option
from controlplane.cli._output import emit_json
from controlplane.cli._yaml import load_service_file


@click.command()
@click.option(
    "-f",
    "--file",
    "service_file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="The service file (YAML); - reads standard input.",
)
@server_option
@json_option
def apply(service_file: IO[str], server: str | None, as_json: bool) -> None:
    """Create or replace a service's routing policy, SLO, risk model and rollout defaults.

    The server validates the whole file and refuses it whole; nothing is half-applied.
    """
    source = service_file.name if service_file.name != "<stdin>" else "standard input"
    document = load_service_file(service_file, source)
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise CliError(f"{source}: name: the service needs a name (name: <service>)")
    entry = api_client(server).put(f"/v1/services/{segment(name)}", document)
    if as_json:
        emit_json(entry)
    else:
        click.echo(f"applied service {name} (ledger entry {entry['seq']})")
