"""What the CLI tells an operator when it cannot do what was asked, and its exit status.

1  the server (or the CLI itself) refused the input, or the command failed
2  the command line itself is wrong (click's usage errors)
3  the weir server cannot be reached
"""

from __future__ import annotations

REFUSED = 1
USAGE = 2
UNREACHABLE = 3


class CliError(Exception):
    """Printed as `weir: <message>` on stderr; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = REFUSED, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.retryable = retryable
        """The server failed for now (a 5xx answer): asking again later may succeed."""
