"""Options every client command shares: where the server is, and `--json`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
import httpx

from controlplane.cli._client import DEFAULT_SERVER, ApiClient
from controlplane.model import split_address

F = TypeVar("F", bound=Callable[..., Any])


SERVER_HELP = f"The weir HTTP API: WEIR_SERVER, else {DEFAULT_SERVER}."
TOKEN_HELP = (
    "The bearer token to call it with: WEIR_TOKEN, else the file WEIR_TOKEN_FILE names, else "
    "the one `weir serve` saved on this machine for that server."
)


def root_server_option(command: F) -> F:
    """`weir --server URL --token T COMMAND`: the server and token for every client command."""
    command = click.option("--token", metavar="TOKEN", help=TOKEN_HELP)(command)
    return click.option(
        "--server", envvar="WEIR_SERVER", default=DEFAULT_SERVER, metavar="URL", help=SERVER_HELP
    )(command)


def server_option(command: F) -> F:
    """`weir COMMAND --server URL`: the same, after the command, where people also type it."""
    return click.option("--server", metavar="URL", help=SERVER_HELP)(command)


def json_option(command: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the server's JSON answer, for scripts."
    )(command)


def api_client(server: str | None) -> ApiClient:
    """A client for the command's --server, else weir's, over a test's transport if any."""
    ctx = click.get_current_context()
    root = ctx.find_root().params
    server = server or root.get("server") or DEFAULT_SERVER
    return ApiClient.from_environment(
        server, ctx.find_object(httpx.BaseTransport), token=root.get("token")
    )


def host_port(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option callback: host:port as controlplane.model reads it ([::1]:80 for IPv6)."""
    if value is not None:
        try:
            split_address(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from exc
    return value


def listen_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """host:port to listen on, where port 0 asks the system for a free port."""
    host, _, port = value.rpartition(":")
    host_port(ctx, param, f"{host}:1" if port == "0" else value)
    return value


def address_option(flag: str, default: str, help: str, *, listen: bool = False) -> Callable[[F], F]:
    """A HOST:PORT option with a default, checked as it is parsed; `listen` allows port 0."""
    return click.option(
        flag,
        default=default,
        show_default=True,
        callback=listen_address if listen else host_port,
        metavar="HOST:PORT",
        help=help,
    )
