"""The `weir` command line: a client of the HTTP API, and `weir serve` / `weir bootstrap`.

Importing this package loads nothing else: the console script turns the garbage collector off
(controlplane.cli._collector) before click and the commands load.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.cli import _collector

if TYPE_CHECKING:
    from controlplane.cli._main import cli
else:  # the type checker sees the import above, so a misspelt name stays an error
    __getattr__ = lazy_exports(__name__, {"cli": "_main"})

__all__ = ["cli", "main"]


def main() -> None:
    """The `weir` console script (and `python -m controlplane`)."""
    _collector.pause()
    try:
        from controlplane.cli._main import main as weir

        weir()
    finally:
        _collector.resume()  # when no command's code was loaded: --help, --version, a typo
