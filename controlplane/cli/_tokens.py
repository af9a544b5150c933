"""`weir token …`: issue, list and revoke the bearer tokens operators call the API with."""

from __future__ import annotations

from typing import Any

import click

from controlplane.cli._client import segment
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import emit, table, when

ROLES = ("viewer", "operator", "admin")
"""controlplane.model.Role's values (tests/cli/test_startup.py checks)."""


@click.group()
def token() -> None:
    """Bearer tokens: viewer reads, operator also changes instances and rollouts, admin also
    applies services and manages tokens. Needs an admin token."""


@token.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="What the token may do.",
)
@click.option("--reason", default="", help="Recorded in the ledger with the token's entry.")
@output_option
def create(name: str, role: str, reason: str, output: str) -> None:
    """Issue a token for NAME, who is then the actor of every change made with it. The secret
    is printed this once: weir keeps only its SHA-256."""
    issued = api_client().post("/v1/tokens", {"name": name, "role": role, "reason": reason})
    if output != "table":
        emit(issued, output)
        return
    click.echo(issued["token"])
    click.echo(
        f"token {issued['name']!r} ({issued['role']}) created; its secret above is shown "
        "this once (use it as WEIR_TOKEN or --token)",
        err=True,
    )


@token.command("list")
@output_option
def list_tokens(output: str) -> None:
    """Tokens in force: names, roles, when and by whom they were created. Never secrets."""
    tokens: list[dict[str, Any]] = api_client().get("/v1/tokens")
    if output != "table":
        emit(tokens, output)
        return
    rows = [
        [t["name"], t["role"], when(t["created_at"]), t["created_by"], str(t["seq"])]
        for t in tokens
    ]
    click.echo(table(["NAME", "ROLE", "CREATED", "BY", "SEQ"], rows))


@token.command("revoke")
@click.argument("name")
@click.option("--reason", default="", help="Recorded in the ledger with the revocation.")
@output_option
def revoke(name: str, reason: str, output: str) -> None:
    """Revoke NAME's token: every server refuses it from this ledger entry on."""
    entry = api_client().post(f"/v1/tokens/{segment(name)}/revoke", {"reason": reason})
    if output != "table":
        emit(entry, output)
        return
    click.echo(f"token {name!r} revoked (ledger entry {entry['seq']})")
