"""`weir serve --store postgresql://…` replicas as child processes, and what the shared ledger
says about who leads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from controlplane.bootstrap import render_bootstrap
from tests.integration._weir import WeirServer
from tests.support import free_port


def replica(
    workdir: Path, ledger_url: str, *options: str, joining: WeirServer | None = None
) -> WeirServer:
    """A replica on the shared ledger (not started). WeirServer always passes a --store file
    first; the later --store given here is the one click keeps. A replica `joining` a started
    one uses its admin token: the ledger has it, so the newcomer issues none."""
    workdir.mkdir()
    token = joining.token if joining is not None else None
    return WeirServer(workdir, options=("--store", ledger_url, *options), token=token)


def leader(ledger_url: str) -> tuple[int, int | None]:
    """The current term and the pid of the replica that holds it (None before any term)."""
    with psycopg.connect(ledger_url) as db:
        row = db.execute("SELECT term, holder FROM weir_leader").fetchone()
    assert row is not None
    term, holder = int(row[0]), str(row[1])
    return term, int(holder.rpartition(":")[2]) if holder else None


def ledger_terms(ledger_url: str) -> tuple[list[tuple[int, int | None]], dict[int, int]]:
    """Every entry's (seq, term), and each term's first seq (after the ledger it found)."""
    with psycopg.connect(ledger_url) as db:
        entries = db.execute("SELECT seq, term FROM ledger ORDER BY seq").fetchall()
        terms = db.execute("SELECT term, after_seq FROM weir_terms").fetchall()
    return (
        [(int(seq), None if term is None else int(term)) for seq, term in entries],
        {int(term): int(after) + 1 for term, after in terms},
    )


def leader_writes_without_term(ledger_url: str) -> list[int]:
    """The seq of every entry by the rollout driver or the evaluator that carries no term."""
    with psycopg.connect(ledger_url) as db:
        rows = db.execute(
            "SELECT seq FROM ledger WHERE actor IN ('rollout', 'evaluator') AND term IS NULL"
        ).fetchall()
    return [int(seq) for (seq,) in rows]


def fenced_writes_out_of_term(ledger_url: str) -> list[tuple[int, int]]:
    """(seq, term) of every entry a leader wrote after a later term had begun: must be none."""
    entries, begins = ledger_terms(ledger_url)
    return [
        (seq, term)
        for seq, term in entries
        if term is not None and any(later > term and seq >= begins[later] for later in begins)
    ]


def bootstrap_on(node_id: str, listen: str, *replicas: WeirServer) -> dict[str, Any]:
    """What `weir bootstrap --xds A --xds B ...` prints for a proxy of these replicas, in order
    of preference."""
    return render_bootstrap(
        node_id,
        "test",
        xds=[weir.xds for weir in replicas],
        listen=listen,
        admin=f"127.0.0.1:{free_port()}",
    )
