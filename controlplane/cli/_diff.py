"""`weir apply --dry-run`: the server's reading of a service file beside the policy it has."""

from __future__ import annotations

import difflib
from typing import Any

import click
import yaml

from controlplane.cli._output import paint


def policy_diff(name: str, current: dict[str, Any] | None, proposed: dict[str, Any]) -> list[str]:
    """A unified diff of the two policies as YAML (the server's order of fields)."""
    before = yaml.safe_dump(current, sort_keys=False).splitlines() if current else []
    after = yaml.safe_dump(proposed, sort_keys=False).splitlines()
    return list(
        difflib.unified_diff(
            before, after, f"{name} (current)", f"{name} (from the file)", lineterm=""
        )
    )


def show_dry_run(answer: dict[str, Any]) -> None:
    name, action = answer["service"], answer["action"]
    if action == "unchanged":
        click.echo(f"service {name}: unchanged (nothing to apply)")
        return
    verb = "would create" if action == "create" else "would change"
    click.echo(f"service {name}: {verb} (dry run, nothing applied)")
    for line in policy_diff(name, answer["current"], answer["proposed"]):
        tone = (
            "good"
            if line.startswith("+") and not line.startswith("+++")
            else "bad"
            if line.startswith("-") and not line.startswith("---")
            else "info"
            if line.startswith("@@")
            else None
        )
        click.echo(paint(line, tone) if tone else line)
