"""`weir apply -f FILE`: create or replace services from their service files, and register
instances, all in one transaction.

A file of one service (one YAML document, no `instances`) is applied as before, by
`PUT /v1/services/NAME`. A file of several documents, or one listing `instances`, goes to
`POST /v1/apply` in one call: every service and instance in one ledger transaction and one
push to Envoy, refused whole if any part is wrong. Each document is a service file, and may
list that service's instances (each may say the activation it starts in); a document with
`instances` alone registers instances of services applied before (each names its `service`).
"""

from __future__ import annotations

import re
from typing import IO, Any

import click

from controlplane.cli._client import segment
from controlplane.cli._errors import CliError
from controlplane.cli._options import api_client, json_option, server_option
from controlplane.cli._output import emit_json
from controlplane.cli._yaml import load_documents


@click.command()
@click.option(
    "-f",
    "--file",
    "service_file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="The service file (YAML; several documents, each may list `instances`); - reads "
    "standard input.",
)
@click.option("--reason", default="", help="Why, as the ledger records it (with instances).")
@server_option
@json_option
def apply(service_file: IO[str], reason: str, server: str | None, as_json: bool) -> None:
    """Create or replace services' routing policy, SLO, risk model and rollout defaults, and
    register the instances the file lists.

    The server validates the whole file and refuses it whole; nothing is half-applied. What it
    holds already (the same service spec, an instance registered exactly so) is left alone.
    """
    source = service_file.name if service_file.name != "<stdin>" else "standard input"
    documents = load_documents(service_file, source)
    if len(documents) == 1 and "instances" not in documents[0]:
        _apply_one(documents[0], source, server, as_json)
        return
    body, places = _batch(documents, source)
    body["reason"] = reason
    try:
        result = api_client(server).post("/v1/apply", body)
    except CliError as exc:
        raise CliError(_in_file_terms(exc.message, places, source), exc.exit_code) from exc
    if as_json:
        emit_json(result)
        return
    entries = (
        f"ledger entries {result['first_seq']}-{result['last_seq']}"
        if result["entries"]
        else "nothing new in the ledger"
    )
    click.echo(
        f"applied {result['services_applied']} services ({result['services_unchanged']} "
        f"unchanged), registered {result['instances_registered']} instances "
        f"({result['instances_unchanged']} unchanged; {result['activations']} started live "
        f"or in shadow): {entries}"
    )


def _apply_one(document: dict[str, Any], source: str, server: str | None, as_json: bool) -> None:
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise CliError(f"{source}: name: the service needs a name (name: <service>)")
    entry = api_client(server).put(f"/v1/services/{segment(name)}", document)
    if as_json:
        emit_json(entry)
    else:
        click.echo(f"applied service {name} (ledger entry {entry['seq']})")


def _batch(documents: list[dict[str, Any]], source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The /v1/apply body, and where each of its entries came from in the file (for errors)."""
    services: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    places: dict[str, str] = {}
    for number, document in enumerate(documents, 1):
        where = f"{source}: document {number}"
        listed = document.pop("instances", [])
        if not isinstance(listed, list):
            raise CliError(f"{where}: instances: a list of instances, not {type(listed).__name__}")
        name = document.get("name")
        if document or not listed:
            if not isinstance(name, str) or not name:
                raise CliError(f"{where}: name: the service needs a name (name: <service>)")
            places[f"services.{len(services)}"] = f"{where} (service {name})"
            services.append(document)
        for index, item in enumerate(listed):
            if not isinstance(item, dict):
                raise CliError(f"{where}: instances[{index}]: an instance is a mapping")
            if isinstance(name, str) and item.setdefault("service", name) != name:
                raise CliError(
                    f"{where}: instances[{index}].service is {item['service']!r}, in the "
                    f"document of service {name!r}"
                )
            places[f"instances.{len(instances)}"] = f"{where}, instances[{index}]"
            instances.append(item)
    return {"services": services, "instances": instances}, places


def _in_file_terms(message: str, places: dict[str, str], source: str) -> str:
    """The server names entries by their place in the request (`instances.12.address`); say
    where they are in the file instead."""

    def place(match: re.Match[str]) -> str:
        key, rest = match.group(1), match.group(2) or ""
        return places.get(key, key) + (f": {rest.lstrip('.')}" if rest else "")

    translated = re.sub(r"\b((?:services|instances)\.\d+)((?:\.[\w.]+)?)", place, message)
    return translated if translated != message else f"{source}: {message}"
