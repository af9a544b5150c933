"""`weir ARGS...` in-process with click's CliRunner, as the console script runs it."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from click.testing import CliRunner, Result

from controlplane.cli import cli
from controlplane.cli._client import Reply, TimedOut, Transport, Unreachable


class HttpxTransport(Transport):
    """The CLI's transport seam over an httpx transport: a MockTransport, or one bound to an
    ASGI app, stands in for the network."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    def request(
        self, method: str, url: str, *, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        with httpx.Client(transport=self._transport, timeout=timeout) as http:
            try:
                response = http.request(method, url, headers=headers, content=body)
            except httpx.TimeoutException as exc:
                raise TimedOut(str(exc)) from exc
            except httpx.TransportError as exc:
                raise Unreachable(str(exc) or type(exc).__name__) from exc
            return Reply(response.status_code, response.reason_phrase, response.content)


def invoke(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str | None] | None = None,
    transport: httpx.BaseTransport | Transport | None = None,
) -> Result:
    """Run weir; `transport` stands in for the network (the CLI's one injectable seam)."""
    quiet = dict.fromkeys(("WEIR_SERVER", "WEIR_TOKEN", "WEIR_TOKEN_FILE", "NO_COLOR"))
    if isinstance(transport, httpx.BaseTransport):
        transport = HttpxTransport(transport)
    return CliRunner().invoke(
        cli, list(args), input=stdin, env={**quiet, **(env or {})}, obj=transport
    )
