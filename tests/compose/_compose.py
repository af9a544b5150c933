"""docker-compose.yml read as Docker Compose would, without an engine: its services, mounts and
published ports, and every `weir` command in it parsed by the real click CLI (never invoked)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import click
import yaml

from controlplane.cli import cli

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

CONTROLLER = "weir"
"""The controller's service name: WEIR_SERVER and the compose bootstrap's xDS host."""
FRONT = "front"
SETUP = "setup"
PROMETHEUS = "prometheus"


@cache
def compose() -> dict[str, Any]:
    """The file as PyYAML reads it (anchors and `<<` merge keys resolved, as Compose does)."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def service(name: str) -> dict[str, Any]:
    return services()[name]


@dataclass(frozen=True)
class Mount:
    source: str
    """A host path (relative to the compose file) or a named volume."""
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/"))

    @property
    def host_path(self) -> Path:
        return (REPO / self.source).resolve()


def mounts(name: str) -> list[Mount]:
    """A service's volumes, from the short (`src:dst[:ro]`) or the long syntax."""
    found = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found.append(Mount(source, target, "ro" in mode))
        else:
            found.append(Mount(volume["source"], volume["target"], bool(volume.get("read_only"))))
    return found


def host_file(name: str, container_path: str) -> Path | None:
    """The repo file a bind mount of service `name` shows at `container_path`, if any."""
    for mount in mounts(name):
        if not mount.is_bind:
            continue
        if container_path == mount.target:
            return mount.host_path
        if container_path.startswith(mount.target.rstrip("/") + "/"):
            return mount.host_path / container_path[len(mount.target) :].lstrip("/")
    return None


@dataclass(frozen=True)
class Published:
    host_ip: str
    host_port: int
    container_port: int


def published(name: str) -> list[Published]:
    """A service's `ports`, short syntax: [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp]."""
    found = []
    for entry in service(name).get("ports", []):
        # Unquoted, YAML 1.1 reads 8080:8080 as a base-60 number: Compose files quote ports.
        assert isinstance(entry, str), f"{name}: quote the port mapping {entry!r}"
        parts = entry.removesuffix("/tcp").split(":")
        assert len(parts) == 3, f"{name}: {entry!r} is not HOST_IP:HOST_PORT:CONTAINER_PORT"
        found.append(Published(parts[0], int(parts[1]), int(parts[2])))
    return found


def exposed(name: str) -> set[int]:
    """The container ports a service listens on for others: published or `expose`d."""
    ports = {int(str(port).removesuffix("/tcp")) for port in service(name).get("expose", [])}
    return ports | {port.container_port for port in published(name)}


# Commands.

_CONTROL = {";", "|", "||", "&&", "&", "(", ")", ";;", "((", "))"}
_RESERVED = {"if", "then", "else", "elif", "do", "while", "until", "!", "exec"}


def script_commands(script: str) -> Iterator[list[str]]:
    """Every simple command of a POSIX shell script, as words (what `sh` would run, less the
    redirections). Enough for the scripts here: one command per line or joined by ; | && ||."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        tokens = iter(lexer)
        for token in tokens:
            if token in _CONTROL:
                yield from _command(words)
                words = []
            elif set(token) <= set("<>&"):
                next(tokens, None)  # a redirection and its target
            elif not words and token in _RESERVED:
                continue
            else:
                words.append(token)
        yield from _command(words)


def _command(words: list[str]) -> Iterator[list[str]]:
    while words and re.fullmatch(r"\w+=.*", words[0]):
        words = words[1:]  # VAR=value before a command, or alone
    if words:
        yield words


def weir_commands(name: str) -> list[list[str]]:
    """The `weir ...` commands service `name` runs: its command, or the shell script it runs
    (inline with `sh -c`, or a file it mounts); without a command, the image's CMD."""
    command = service(name).get("command")
    if command is None:
        if "build" not in service(name):
            return []
        command = dockerfile_cmd()
    if isinstance(command, str):
        command = shlex.split(command)
    if command[0] in ("sh", "/bin/sh", "bash"):
        if command[1] == "-c":
            script = command[2]
        else:
            path = host_file(name, command[1])
            assert path is not None, f"{name} runs {command[1]}, which it does not mount"
            script = path.read_text()
        found = list(script_commands(script))
    else:
        found = [command]
    for words in found:
        assert "weir" not in words[1:], f"{name}: cannot read {shlex.join(words)!r} as a command"
    return [words for words in found if words[0] == "weir"]


def dockerfile_cmd() -> list[str]:
    """The image's CMD, which must be the exec (JSON) form so signals reach weir."""
    (line,) = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("CMD ")]
    words: list[str] = json.loads(line.removeprefix("CMD "))
    return words


@dataclass(frozen=True)
class Parsed:
    path: tuple[str, ...]
    """The subcommand chain below `weir`, e.g. ("instance", "add")."""
    params: dict[str, Any]
    """The leaf command's parameters, converted and checked by its options' types and callbacks."""


def parse_weir(argv: Sequence[str], *, service_name: str | None = None) -> Parsed:
    """Parse `weir ...` with the real CLI, as it would run, without running it.

    Container paths under one of `service_name`'s bind mounts become the repo's files, so an
    option that opens a file (`apply -f`) opens the one the container would see.
    """
    assert argv[0] == "weir", argv
    args = [_on_host(arg, service_name) for arg in argv[1:]]
    path: list[str] = []
    with ExitStack() as stack:
        ctx = stack.enter_context(cli.make_context("weir", args))
        command: click.Command = cli
        while isinstance(command, click.Group):
            # What click's Group.invoke does: the name kept apart by parse_args, then the rest.
            rest = [*ctx._protected_args, *ctx.args]
            name, sub, sub_args = command.resolve_command(ctx, rest)
            assert name is not None and sub is not None, f"no command in {shlex.join(argv)}"
            path.append(name)
            ctx = stack.enter_context(sub.make_context(name, sub_args, parent=ctx))
            command = sub
        return Parsed(tuple(path), dict(ctx.params))


def service_commands(name: str) -> list[Parsed]:
    """Service `name`'s `weir` commands, parsed as they would run in its container."""
    return [parse_weir(words, service_name=name) for words in weir_commands(name)]


def _on_host(arg: str, service_name: str | None) -> str:
    if service_name is None or not arg.startswith("/"):
        return arg
    path = host_file(service_name, arg)
    return str(path) if path is not None else arg
