"""Output for people (aligned tables, short times, colour on a terminal) and for scripts
(`-o json`, `-o yaml`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from controlplane.cli._options import colour_on

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What a word means, by colour: good news green, bad news red, waiting yellow.
_TONES: dict[str, dict[str, Any]] = {
    "good": {"fg": "green"},
    "bad": {"fg": "red", "bold": True},
    "wait": {"fg": "yellow"},
    "info": {"fg": "cyan"},
    "dim": {"dim": True},
    "head": {"bold": True},
}
TONE_OF = {
    "pass": "good",
    "completed": "good",
    "current": "good",
    "ok": "good",
    "live": "good",
    "fail": "bad",
    "rolled_back": "bad",
    "rolled back": "bad",
    "FAIL": "bad",
    "ALERT": "bad",
    "MISMATCH": "bad",
    "FROZEN": "bad",
    "inconclusive": "wait",
    "pending": "wait",
    "paused": "wait",
    "aborted": "wait",
    "running": "info",
    "shadow": "info",
}


def emit(data: Any, output: str) -> None:
    """The answer as JSON or YAML, for scripts."""
    if output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
    else:
        click.echo(json.dumps(data, indent=2))


def emit_json(data: Any) -> None:
    emit(data, "json")


def paint(text: str, tone: str | None = None) -> str:
    """`text` in the colour of `tone` (else of the word itself) when colour is on."""
    tone = tone or TONE_OF.get(text)
    if tone is None or not colour_on():
        return text
    return click.style(text, **_TONES[tone])


def share_text(share: float) -> str:
    """A share of traffic as operators ask for it: 10%, 33.3%, 0.5%, 100% (3 digits)."""
    return f"{100 * share:.3g}%"


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; no trailing spaces. Cells may be
    painted: the padding counts only what shows."""
    lines = [[paint(h, "head") for h in headers], *(list(row) for row in rows)]
    widths = [max(visible_len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(
            cell + " " * (width - visible_len(cell))
            for cell, width in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    )


def when(moment: datetime | str) -> str:
    """A moment in UTC to the second: operators in different zones read the same text."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short_version(version: str | None) -> str:
    return version[:8] if version else "-"


def value_lines(realized: Iterable[tuple[str, float]]) -> list[str]:
    """Per service, what its judged changes gained and lost while judged, from (service,
    realized value) pairs."""
    totals: dict[str, tuple[float, float]] = {}
    for service, value in realized:
        gained, lost = totals.get(service, (0.0, 0.0))
        totals[service] = (gained + max(value, 0.0), lost + max(-value, 0.0))
    return [
        f"{service}: value gained {gained:,.2f}, value lost {lost:,.2f} by changes "
        f"(net {gained - lost:+,.2f})"
        for service, (gained, lost) in sorted(totals.items())
    ]
