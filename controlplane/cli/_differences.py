"""`weir differences SERVICE`: how a compared shadow's answers differ from the old version's,
per endpoint and field, with examples -- from the verdicts in the ledger and, for a change still
being judged, from the evaluator."""

from __future__ import annotations

from typing import Any

import click

from controlplane.cli._errors import CliError
from controlplane.cli._options import api_client, output_option
from controlplane.cli._output import emit, table


@click.command()
@click.argument("service")
@click.option("--change", "change_seq", type=int, metavar="SEQ", help="This change (its seq).")
@click.option("--all", "every", is_flag=True, help="Every compared change, newest first.")
@output_option
def differences(service: str, change_seq: int | None, every: bool, output: str) -> None:
    """Differences found by comparing SERVICE's shadow instances with its live ones: per
    endpoint and field, how often the candidate's answer differed from an old instance's and
    how often two old instances differed (the noise), with examples. The newest compared change
    by default."""
    client = api_client()
    found = _compared(client, service)
    if change_seq is not None:
        found = [c for c in found if c["change_seq"] == change_seq]
        if not found:
            raise CliError(f"change #{change_seq} of {service} was not judged by comparison")
    elif not every:
        found = found[:1]
    if output != "table":
        emit(found, output)
        return
    if not found:
        click.echo(f"no change of {service} has been judged by comparing answers")
        return
    click.echo("\n\n".join(_describe(c) for c in found))


def _compared(client: Any, service: str) -> list[dict[str, Any]]:
    """Compared changes of the service, newest first: those being judged, then the recorded
    verdicts (each change's latest)."""
    changes: dict[int, dict[str, Any]] = {}
    for entry in client.get("/v1/history", {"service": service}):
        event = entry["event"]
        if event["kind"] == "verdict_recorded" and event["verdict"].get("comparison"):
            changes[event["change_seq"]] = {
                "change_seq": event["change_seq"],
                "instance_id": event["instance_id"],
                "judging": False,
                "verdict": event["verdict"],
            }
    try:
        open_ = client.get("/v1/evaluations")
    except CliError:
        open_ = []  # a server without an evaluator: the ledger's verdicts are all there is
    for evaluation in open_:
        verdict = evaluation.get("verdict") or {}
        if evaluation["service"] == service and verdict.get("comparison"):
            changes.setdefault(
                evaluation["change_seq"],
                {
                    "change_seq": evaluation["change_seq"],
                    "instance_id": evaluation["instance_id"],
                    "judging": True,
                    "verdict": verdict,
                },
            )
    return [changes[seq] for seq in sorted(changes, reverse=True)]


def _describe(change: dict[str, Any]) -> str:
    verdict = change["verdict"]
    comparison = verdict["comparison"]
    state = "being judged" if change["judging"] else "verdict"
    lines = [
        f"change #{change['change_seq']} of {change['instance_id']}: {state} "
        f"{verdict['outcome']} — {verdict['reason']}",
        f"  {comparison['compared']} compared, {comparison['skipped']} skipped, "
        f"{comparison['dropped']} dropped; a field fails beyond "
        f"{100 * comparison['threshold']:g} points over the noise"
        + (" (one old instance, answering twice)" if comparison["one_baseline"] else ""),
    ]
    for endpoint in comparison["endpoints"]:
        lines.append(f"\n  {endpoint['endpoint']} ({endpoint['compared']} compared)")
        rows = [
            [
                "    " + f["field"],
                f"{100 * f['candidate_rate']:.1f}%",
                f"{100 * f['noise_rate']:.1f}%",
                f"{f['e_value']:.3g}",
                f"{f['fail_at']:.3g}",
                "FAIL" if f["failed"] else "",
            ]
            for f in endpoint["fields"]
        ]
        if rows:
            headers = ["    FIELD", "CANDIDATE", "NOISE", "E-VALUE", "FAILS AT", ""]
            lines.append(table(headers, rows))
        if endpoint["fields_left_out"]:
            lines.append(f"    … and {endpoint['fields_left_out']} more fields")
        for f in endpoint["fields"]:
            for example in f["examples"] if f["candidate_rate"] > f["noise_rate"] else []:
                lines.append(
                    f"    e.g. {example['method']} {example['path']}  {example['field']}: "
                    f"old {_value(example['primary'])} → new {_value(example['candidate'])} "
                    f"(other old {_value(example['secondary'])})"
                )
    return "\n".join(lines)


def _value(value: str | None) -> str:
    return "(missing)" if value is None else value
