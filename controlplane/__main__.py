"""`python -m controlplane`: the `weir` command, for when the console script is not on PATH."""

from controlplane.cli import main

main()
