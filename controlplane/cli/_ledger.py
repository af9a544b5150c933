"""`weir ledger verify`: check a ledger's entries against its hash chain, without serving it."""

from __future__ import annotations

import click

from controlplane import defaults
from controlplane.cli._errors import CliError
from controlplane.cli._options import json_option
from controlplane.cli._output import emit_json


@click.group()
def ledger() -> None:
    """The ledger itself, read directly (no server needed)."""


@ledger.command()
@click.option(
    "--store",
    default=defaults.STORE,
    show_default=True,
    metavar="URL",
    help="The ledger, as `weir serve --store` takes it. Read only: a served ledger can be "
    "verified while it is served.",
)
@json_option
def verify(store: str, as_json: bool) -> None:
    """Check every entry against the ledger's hash chain (and a SQLite ledger's end against
    its head file). A damaged or edited ledger is named with the seq where it breaks, and the
    command exits 1; `weir serve` refuses to serve such a ledger."""
    from controlplane.errors import StoreError
    from controlplane.ledger import open_store

    try:
        opened = open_store(store)
        try:
            verified = opened.verify()
        finally:
            opened.close()
    except StoreError as exc:
        raise CliError(exc.message) from exc
    where = getattr(opened, "where", store)
    if as_json:
        emit_json(
            {
                "ledger": where,
                "entries": verified.entries,
                "last_seq": verified.last_seq,
                "last_hash": verified.last_hash,
                "head_seq": verified.head_seq,
            }
        )
        return
    head = f"; its head file agrees (seq {verified.head_seq})" if verified.head_seq else ""
    click.echo(
        f"ledger {where}: {verified.entries} entries, hash chain intact up to seq "
        f"{verified.last_seq}{head}"
    )
