"""What a webhook hears: notifications derived from ledger entries and the budget freeze. Pure.

Every notification is one JSON object. The fields every kind shares:

    id        unique per notification ("<seq>:<kind>", or "budget:<service>:<n>", on replicas
              "budget:<service>:t<term>:<n>"): retries send the same id, and so does a new
              leader resending an entry's notification, so a receiver can drop a duplicate
    event     the kind, below
    service   the service it concerns
    at        when it happened (the ledger entry's time), ISO 8601 UTC
    seq       the ledger entry it comes from (null for the budget)
    actor     who made the entry (an operator, `rollout`, `evaluator`)
    reason    the entry's reason
    text      one line for people (chat tools show a `text` field as the message)

and per kind:

    rollout.started      rollout {id, version, strategy}, plus candidates and replaced
    rollout.step         rollout, stage (1-based), label
    rollout.paused / rollout.resumed / rollout.promoted
                         rollout
    rollout.completed / rollout.rolled_back / rollout.aborted
                         rollout, outcome
    verdict.pass / verdict.fail / verdict.inconclusive
                         change_seq, instance_id, rollout (if a rollout made the change),
                         verdict (outcome, reason, evidence, cost)
    instance.rolled_back the evaluator took a failing instance out of traffic on its own:
                         instance_id, before, after (the reason names the failed change)
    budget.frozen / budget.unfrozen
                         budget {success_rate, window_s, requests, errors, remaining}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controlplane.evaluator import ACTOR as EVALUATOR
from controlplane.evaluator import Budget
from controlplane.model import (
    ActivationChanged,
    Entry,
    RolloutFinished,
    RolloutPaused,
    RolloutPromoted,
    RolloutResumed,
    RolloutStarted,
    RolloutStepped,
    RolloutUndone,
    State,
    VerdictRecorded,
)

EVENT_KINDS: tuple[str, ...] = (
    "rollout.started",
    "rollout.step",
    "rollout.paused",
    "rollout.resumed",
    "rollout.promoted",
    "rollout.completed",
    "rollout.rolled_back",
    "rollout.aborted",
    "verdict.pass",
    "verdict.fail",
    "verdict.inconclusive",
    "instance.rolled_back",
    "budget.frozen",
    "budget.unfrozen",
)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for every webhook: its kind, a unique id, and the JSON body."""

    kind: str
    id: str
    body: dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rollout(state: State, rollout_id: str) -> dict[str, Any]:
    rollout = state.rollouts.get(rollout_id)
    if rollout is None:  # cannot happen for a folded ledger; say what is known
        return {"id": rollout_id}
    return {"id": rollout.id, "version": rollout.version, "strategy": rollout.plan.strategy}


def _rollout_of_change(state: State, service: str, change_seq: int) -> str | None:
    for rollout in reversed(state.rollouts_of(service)):  # the service's, newest first
        if change_seq in rollout.change_seqs:
            return rollout.id
    return None


def _base(entry: Entry, kind: str, service: str, text: str) -> dict[str, Any]:
    return {
        "id": f"{entry.seq}:{kind}",
        "event": kind,
        "service": service,
        "at": _iso(entry.at),
        "seq": entry.seq,
        "actor": entry.actor,
        "reason": entry.reason,
        "text": text,
    }


def notification_of(entry: Entry, state: State) -> Notification | None:
    """The notification one ledger entry makes, or None for entries nobody is told of
    (services applied, instances registered, operators' own activation changes).

    `state` is any state that has folded `entry` in: rollouts are looked up in it for their
    version and strategy, which never change.
    """
    event = entry.event
    body: dict[str, Any]
    match event:
        case RolloutStarted():
            kind = "rollout.started"
            body = _base(entry, kind, event.service, event.describe())
            body["rollout"] = {
                "id": event.rollout_id,
                "version": event.version,
                "strategy": event.plan.strategy,
            }
            body["candidates"] = list(event.candidates)
            body["replaced"] = list(event.replaced)
        case RolloutStepped():
            kind = "rollout.step"
            body = _base(entry, kind, event.service, event.describe())
            body["rollout"] = _rollout(state, event.rollout_id)
            body["stage"] = event.stage + 1
            body["label"] = event.label
        case RolloutPaused() | RolloutResumed() | RolloutPromoted() | RolloutUndone():
            kind = f"rollout.{event.kind.removeprefix('rollout_')}"
            body = _base(entry, kind, event.service, event.describe())
            body["rollout"] = _rollout(state, event.rollout_id)
        case RolloutFinished():
            kind = f"rollout.{event.outcome.value}"
            body = _base(entry, kind, event.service, event.describe())
            body["rollout"] = _rollout(state, event.rollout_id)
            body["outcome"] = event.outcome.value
        case VerdictRecorded():
            verdict = event.verdict
            kind = f"verdict.{verdict.outcome.value}"
            text = (
                f"change #{event.change_seq} of {event.instance_id} ({event.service}): "
                f"{verdict.outcome.value}: {verdict.reason}"
            )
            body = _base(entry, kind, event.service, text)
            body["change_seq"] = event.change_seq
            body["instance_id"] = event.instance_id
            rollout_id = _rollout_of_change(state, event.service, event.change_seq)
            body["rollout"] = _rollout(state, rollout_id) if rollout_id else None
            body["verdict"] = verdict.model_dump(mode="json")
        case ActivationChanged() if entry.actor == EVALUATOR and event.rollout_id is None:
            kind = "instance.rolled_back"
            text = (
                f"{event.instance_id} ({event.service}) rolled back by the evaluator: "
                f"{event.move()}"
            )
            body = _base(entry, kind, event.service, text)
            body["instance_id"] = event.instance_id
            body["before"] = event.before.model_dump(mode="json", exclude_none=True)
            body["after"] = event.after.model_dump(mode="json", exclude_none=True)
        case _:
            return None
    return Notification(kind=kind, id=body["id"], body=body)


def notifications_of(entries: Iterable[Entry], state: State) -> list[Notification]:
    """The notifications of consecutive ledger entries, in ledger order."""
    return [n for entry in entries if (n := notification_of(entry, state)) is not None]


def budget_notification(
    budget: Budget, *, frozen: bool, count: int, at: datetime, term: int | None = None
) -> Notification:
    """The service's error budget froze (new live traffic refused) or recovered. `count`
    numbers the service's budget notifications, so each id is unique within a server's run;
    on replicas, `term` (the leader's) keeps it unique across leaders."""
    kind = "budget.frozen" if frozen else "budget.unfrozen"
    if frozen:
        text = (
            f"error budget of {budget.service} exhausted ({budget.errors:.0f} failed of "
            f"{budget.requests:.0f} requests against an SLO of {budget.success_rate:g}%): "
            "new live activations are frozen"
        )
    else:
        text = f"error budget of {budget.service} recovered: new live activations allowed again"
    body: dict[str, Any] = {
        "id": f"budget:{budget.service}:{'' if term is None else f't{term}:'}{count}",
        "event": kind,
        "service": budget.service,
        "at": _iso(at),
        "seq": None,
        "actor": EVALUATOR,
        "reason": text,
        "text": text,
        "budget": {
            "success_rate": budget.success_rate,
            "window_s": budget.window_s,
            "requests": budget.requests,
            "errors": budget.errors,
            "allowed_failures": budget.allowed_failures,
            "remaining": budget.remaining,
        },
    }
    return Notification(kind=kind, id=body["id"], body=body)
