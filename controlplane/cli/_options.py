"""Options the CLI's commands share: the global ones (where the server is, the token, colour),
accepted anywhere on the line, and `-o json|yaml|table` (`--json`) for what commands print.

Global options live on the root group and again on every client command (`weir instance list
--token T` works as `weir --token T instance list`); each occurrence records its value in the
root context's `meta`, so the last one on the line wins and commands never take them as
parameters.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from controlplane import defaults
from controlplane.units import split_address

if TYPE_CHECKING:
    from controlplane.cli._client import ApiClient

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SERVER = f"http://{defaults.API}"
SERVER_HELP = f"The weir HTTP API: WEIR_SERVER, else {DEFAULT_SERVER}."
TOKEN_HELP = (
    "The bearer token to call it with: WEIR_TOKEN, else the file WEIR_TOKEN_FILE names, else "
    "the one `weir serve` saved on this machine for that server."
)
COLOR_HELP = "No colour, even on a terminal (NO_COLOR does the same)."
FORMATS = ("table", "json", "yaml")
_META = "weir.global."


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep a global option's value where every command finds it. The root group runs first
    (a typed value, else WEIR_SERVER or the default); a command's options hold only what was
    typed after it, which then wins."""
    if value is not None and value is not False and param.name is not None:
        ctx.find_root().meta[_META + param.name] = value
    return value


def global_options(*, root: bool) -> list[click.Option]:
    """--server, --token and --no-color: with the environment's defaults on the root group,
    plain on a command (where only what is typed counts)."""
    server = click.Option(
        ["--server"],
        envvar="WEIR_SERVER" if root else None,
        default=DEFAULT_SERVER if root else None,
        metavar="URL",
        expose_value=False,
        callback=_remember,
        help=SERVER_HELP,
    )
    token = click.Option(
        ["--token"], metavar="TOKEN", expose_value=False, callback=_remember, help=TOKEN_HELP
    )
    colour = click.Option(
        ["--no-color"],
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_remember,
        help=COLOR_HELP,
    )
    return [server, token, colour]


def global_value(name: str) -> Any:
    """The value of global option `name` (server, token, no_color) for this invocation."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.find_root().meta.get(_META + name)


def colour_on() -> bool:
    """Colour only on a terminal, and never with NO_COLOR (any value) or --no-color."""
    if os.environ.get("NO_COLOR") or global_value("no_color"):
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.color is not None:
        return bool(ctx.color)
    return sys.stdout.isatty()


def api_client() -> ApiClient:
    """A client for this invocation's server and token, over a test's transport if any."""
    from controlplane.cli._client import ApiClient, Transport  # not for --help nor --version

    ctx = click.get_current_context()
    server = global_value("server") or DEFAULT_SERVER
    return ApiClient.from_environment(
        server, ctx.find_object(Transport), token=global_value("token")
    )


def output_option(command: F) -> F:
    """`-o table|json|yaml` and `--json` (the same as `-o json`); the command receives
    `output`, one of FORMATS."""

    @functools.wraps(command)
    def run(*args: Any, output: str | None, as_json: bool, **kwargs: Any) -> Any:
        if as_json and output not in (None, "json"):
            raise click.UsageError(f"--json and -o {output} ask for two formats; choose one")
        return command(*args, output="json" if as_json else (output or "table"), **kwargs)

    run = click.option(
        "--json", "as_json", is_flag=True, help="Print the server's JSON answer (-o json)."
    )(run)
    run = click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        help="table (for people, the default), json or yaml (for scripts).",
    )(run)
    return cast(F, run)


def host_port(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option callback: host:port as controlplane.units reads it ([::1]:80 for IPv6)."""
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
