"""`weir serve --store postgresql://…` as operators run it: the ready line names the shared
ledger without its password, and a database it cannot reach is a clear error, not a trace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.ha._replicas import replica
from tests.support import free_port

WEIR = str(Path(sys.executable).parent / "weir")


def test_the_ready_line_names_the_shared_ledger(tmp_path: Path, ledger_url: str) -> None:
    with replica(tmp_path / "a", ledger_url, "--stats", "off") as a:
        a.service("web")
    lines = (tmp_path / "a" / "weir-serve.log").read_text().splitlines()
    # (the log may hold the ledger's first entries before it: every change is logged)
    ready = next(line for line in lines if line.startswith("weir serving "))
    assert ready.endswith(f"(ledger {ledger_url})"), ready


def test_an_unreachable_database_is_a_clear_error() -> None:
    url = f"postgresql://weir:s3cret@127.0.0.1:{free_port()}/weir"
    done = subprocess.run(
        [WEIR, "serve", "--store", url, "--xds", "127.0.0.1:0", "--api", "127.0.0.1:0",
         "--compare", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("weir: cannot open the ledger at postgresql://weir@127.0.0.1:")
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr
