"""`weir apply -f FILE`: create or replace a service from its service file."""

from __future__ import annotations

from typing import IO

import click

from controlplane.cli._client import segment
from controlplane.cli._errors import CliError
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import emit
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
@click.option(
    "--dry-run",
    is_flag=True,
    help="Change nothing: print the difference from the current policy, as the server reads "
    "both (defaults filled in); exits 1 if the server would refuse the file.",
)
@output_option
def apply(service_file: IO[str], dry_run: bool, output: str) -> None:
    """Create or replace a service's routing policy, SLO, risk model and rollout defaults.

    The server validates the whole file and refuses it whole; nothing is half-applied.
    """
    source = service_file.name if service_file.name != "<stdin>" else "standard input"
    document = load_service_file(service_file, source)
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise CliError(f"{source}: name: the service needs a name (name: <service>)")
    if dry_run:
        from controlplane.cli._diff import show_dry_run

        answer = api_client().post(f"/v1/services/{segment(name)}/dry-run", document)
        if output != "table":
            emit(answer, output)
        else:
            show_dry_run(answer)
        return
    entry = api_client().put(f"/v1/services/{segment(name)}", document)
    if output != "table":
        emit(entry, output)
    else:
        click.echo(f"applied service {name} (ledger entry {entry['seq']})")
