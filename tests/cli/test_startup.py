"""`weir` loads only what the command uses: the help, the version and the client commands never
import the server or the models. (How long that takes is bench/cli_startup.py's question.)"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import controlplane
from controlplane.cli._main import COMMANDS, SUMMARY_WIDTH
from controlplane.model import Role, Strategy

HEAVY = (
    *("pydantic", "fastapi", "grpc", "httpx", "psycopg", "uvicorn", "prometheus_client"),
    # The standard library's HTTP client and what it loads (controlplane/cli/_http.py is the
    # CLI's own); ssl only for an https:// server.
    *("http.client", "email", "ssl"),
)

PROBE = """
import sys
from controlplane.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="weir")
except SystemExit:
    pass
heavy = [name for name in HEAVY if name in sys.modules]
print("HEAVY:", ",".join(heavy), file=sys.stderr)
"""


def loaded(*args: str) -> list[str]:
    """The heavy packages a `weir ARGS` process imported."""
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    env = {"WEIR_SERVER": "http://127.0.0.1:1", "WEIR_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY:"))
    return [name for name in line.removeprefix("HEAVY:").strip().split(",") if name]


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("rollout", "start", "--help"),
        ("instance", "list"),  # no server there: the request fails, after start-up
        ("rollout", "status", "web", "-o", "yaml"),
        ("budget", "web"),
        ("service", "list"),
        ("rollout", "list"),
        ("proxies",),
    ],
)
def test_help_version_and_client_commands_load_no_server_code(args: tuple[str, ...]) -> None:
    assert loaded(*args) == []


def test_even_the_help_of_serve_loads_no_web_framework() -> None:
    assert "fastapi" not in loaded("serve", "--help")  # its help does not need it either


def test_each_summary_is_the_commands_own_short_help() -> None:
    for lazy in COMMANDS:
        module = importlib.import_module(f"controlplane.cli.{lazy.module}")
        command = getattr(module, lazy.attribute)
        assert lazy.summary == command.get_short_help_str(limit=SUMMARY_WIDTH), lazy.name


def test_the_cli_offers_the_models_choices() -> None:
    from controlplane.cli._rollouts import STRATEGIES
    from controlplane.cli._tokens import ROLES

    assert tuple(s.value for s in Strategy) == STRATEGIES
    assert tuple(r.value for r in Role) == ROLES


def test_python_dash_m_controlplane_is_weir() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"weir, version {controlplane.__version__}\n"
    helped = subprocess.run(
        [sys.executable, "-m", "controlplane", "rollout", "--help"], capture_output=True, text=True
    )
    assert "undo" in helped.stdout and "list" in helped.stdout
