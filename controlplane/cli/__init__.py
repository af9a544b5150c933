"""The `weir` command line: a client of the HTTP API, and `weir serve` / `weir bootstrap`."""

from controlplane.cli._main import cli, main

__all__ = ["cli", "main"]
