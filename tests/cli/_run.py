"""`weir ARGS...` in-process with click's CliRunner, as the console script runs it."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from click.testing import CliRunner, Result

from controlplane.cli import cli


def invoke(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str | None] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Result:
    """Run weir; `transport` stands in for the network (the CLI's one injectable seam)."""
    quiet = dict.fromkeys(("WEIR_SERVER", "WEIR_TOKEN", "WEIR_TOKEN_FILE"))
    return CliRunner().invoke(
        cli, list(args), input=stdin, env={**quiet, **(env or {})}, obj=transport
    )
