"""The `weir` command: a client of the HTTP API, plus `serve` and `bootstrap`."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, NoReturn

import click

from controlplane.cli._apply import apply
from controlplane.cli._bootstrap import bootstrap
from controlplane.cli._budget import budget
from controlplane.cli._demo import demo
from controlplane.cli._demo_instance import demo_instance
from controlplane.cli._differences import differences
from controlplane.cli._errors import REFUSED, USAGE, CliError
from controlplane.cli._fleet import history, proxies
from controlplane.cli._instances import instance
from controlplane.cli._ledger import ledger
from controlplane.cli._loadtest import loadtest
from controlplane.cli._options import root_server_option
from controlplane.cli._rollouts import rollout
from controlplane.cli._serve import serve
from controlplane.cli._tokens import token
from controlplane.errors import WeirError

INTERRUPTED = 130


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"weir: {message}", err=True)
    sys.exit(exit_code)


class _Weir(click.Group):
    """Every error as `weir: <message>` on stderr and an exit status; never a traceback."""

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


@click.group(cls=_Weir, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="weir", prog_name="weir")
@root_server_option
def cli(server: str, token: str | None) -> None:
    """weir: every production change is one immutable instance, recorded and measured.

    The commands below talk to a weir server's HTTP API (--server or WEIR_SERVER, default
    http://127.0.0.1:8080) with a bearer token (--token or WEIR_TOKEN, else the one `weir
    serve` saved on this machine); `serve` runs one, `bootstrap` prints an Envoy bootstrap.
    """


cli.add_command(serve)
cli.add_command(apply)
cli.add_command(instance)
cli.add_command(history)
cli.add_command(differences)
cli.add_command(proxies)
cli.add_command(bootstrap)
cli.add_command(demo)
cli.add_command(demo_instance)
cli.add_command(budget)
cli.add_command(rollout)
cli.add_command(loadtest)
cli.add_command(token)
cli.add_command(ledger)


def main() -> None:
    """The `weir` console script."""
    cli.main(prog_name="weir")
