"""The `weir` command: a client of the HTTP API, plus `serve` and `bootstrap`.

Each command's module is imported only when that command runs: `weir --help`, `weir
--version` and the client commands never load the server (FastAPI, grpc, the models), which
would cost them most of a second. The one-line help of each command is kept here for
`weir --help`; tests/cli/test_startup.py checks it against the command's own.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any, NamedTuple, NoReturn

import click

import controlplane
from controlplane.cli import _collector
from controlplane.cli._errors import REFUSED, USAGE, CliError
from controlplane.cli._options import global_options
from controlplane.errors import WeirError

INTERRUPTED = 130


class Lazy(NamedTuple):
    name: str
    module: str
    attribute: str
    summary: str
    client: bool = True
    """Talks to a weir server: takes the global options after its name too."""


SUMMARY_WIDTH = 70
"""`summary` is the command's own short help at this width (tests/cli/test_startup.py)."""


COMMANDS = (
    Lazy(
        "serve",
        "_serve",
        "serve",
        "Serve the ledger, ADS for the Envoy fleet and the HTTP API, judge...",
        client=False,
    ),
    Lazy(
        "apply",
        "_apply",
        "apply",
        "Create or replace services' routing policy, SLO, risk model and...",
    ),
    Lazy(
        "service",
        "_services",
        "service",
        "Services: list, show and delete them (`weir apply -f` creates and...",
    ),
    Lazy(
        "instance",
        "_instances",
        "instance",
        "Register instances and move them between inactive, shadow, live and...",
    ),
    Lazy(
        "rollout",
        "_rollouts",
        "rollout",
        "Roll a service out to a new version, one measured change at a time.",
    ),
    Lazy(
        "history",
        "_fleet",
        "history",
        "Every change (of SERVICE) in ledger order: who made it, what moved,...",
    ),
    Lazy(
        "differences",
        "_differences",
        "differences",
        "Differences found by comparing SERVICE's shadow instances with its...",
    ),
    Lazy(
        "budget",
        "_budget",
        "budget",
        "SERVICE's SLO, error budget left over its window, burn rates, and...",
    ),
    Lazy(
        "proxies",
        "_fleet",
        "proxies",
        "Connected Envoys: the version of each resource type each...",
    ),
    Lazy(
        "token",
        "_tokens",
        "token",
        "Bearer tokens: viewer reads, operator also changes instances and...",
    ),
    Lazy(
        "wait",
        "_wait",
        "wait",
        "Wait until the weir server answers and takes the token (and, with...",
    ),
    Lazy(
        "loadtest",
        "_loadtest",
        "loadtest",
        "Drive HTTP load at SERVICE through an Envoy listener, then report...",
    ),
    Lazy(
        "ledger",
        "_ledger",
        "ledger",
        "The ledger itself, read directly (no server needed).",
        client=False,
    ),
    Lazy(
        "bootstrap",
        "_bootstrap",
        "bootstrap",
        "Print an Envoy bootstrap (YAML) for one proxy, pointing it at weir...",
        client=False,
    ),
    Lazy(
        "demo",
        "_demo",
        "demo",
        "Run the whole story on this machine: weir serve, a real Envoy,...",
        client=False,
    ),
    Lazy(
        "demo-instance",
        "_demo_instance",
        "demo_instance",
        "Serve one demo instance until SIGTERM or SIGINT: every answer's...",
        client=False,
    ),
)
_BY_NAME = {lazy.name: lazy for lazy in COMMANDS}


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"weir: {message}", err=True)
    sys.exit(exit_code)


def with_global_options(command: click.Command) -> click.Command:
    """The global options on `command` and, for a group, on each of its commands."""
    names = {name for param in command.params for name in param.opts}
    command.params += [p for p in global_options(root=False) if not names & set(p.opts)]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_global_options(sub)
    return command


class _Weir(click.Group):
    """Commands loaded when used; every error as `weir: <message>` on stderr and an exit
    status, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [lazy.name for lazy in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = _BY_NAME.get(cmd_name)
        if lazy is None:
            return None
        if cmd_name not in self.commands:
            module = importlib.import_module(f"controlplane.cli.{lazy.module}")
            command: click.Command = getattr(module, lazy.attribute)
            self.commands[cmd_name] = with_global_options(command) if lazy.client else command
            _collector.resume()  # the command's code is loaded: start-up is over
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(lazy.name, lazy.summary) for lazy in COMMANDS])

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f"\nTry '{exc.ctx.command_path} --help' for help." if exc.ctx else ""
            _fail(exc.format_message() + hint, USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except CliError as exc:
            _fail(exc.message, exc.exit_code)
        except WeirError as exc:
            _fail(exc.message, REFUSED)
        except click.Abort:
            _fail("interrupted", INTERRUPTED)
        except BrokenPipeError:
            # `weir history | head`: the reader left. Nothing to say, and nowhere to say it;
            # point stdout at /dev/null so the flush at exit does not complain either.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(REFUSED)
        except Exception as exc:
            # A bug, not an operator's mistake: still one line, unless asked for the traceback.
            if os.environ.get("WEIR_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (WEIR_DEBUG=1 shows where)", 1)
        # Without standalone mode click returns the exit status of --help and ctx.exit(n).
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    cls=_Weir,
    context_settings={"help_option_names": ["-h", "--help"]},
    params=global_options(root=True),
)
@click.version_option(controlplane.__version__, prog_name="weir")
def cli() -> None:
    """weir: every production change is one immutable instance, recorded and measured.

    The commands below talk to a weir server's HTTP API (--server or WEIR_SERVER, default
    http://127.0.0.1:8080) with a bearer token (--token or WEIR_TOKEN, else the one `weir
    serve` saved on this machine); `serve` runs one, `bootstrap` prints an Envoy bootstrap.
    --server, --token and --no-color go before or after the command.
    """


def main() -> None:
    """`weir` itself (controlplane.cli.main, the console script, runs it)."""
    cli.main(prog_name="weir")
