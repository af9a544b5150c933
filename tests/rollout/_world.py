"""A controller on an in-memory (or file) ledger with one service mid-upgrade, a clock the test
moves, and the evaluator's part played by hand: verdicts appended as actor `evaluator`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import (
    Activation,
    ActivationChanged,
    ArmEvidence,
    Entry,
    Instance,
    Outcome,
    ProposedEntry,
    RolloutDefaults,
    RolloutStarted,
    RolloutState,
    ServiceSpec,
    Verdict,
    VerdictRecorded,
)
from controlplane.rollout import RolloutDriver, plan_for, start
from controlplane.rollout._stages import gated_change

EVALUATOR = "evaluator"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def world(
    path: Path | str = ":memory:",
    *,
    old: dict[str, int] | None = None,
    new: tuple[str, ...] = ("c",),
    clock: Clock | None = None,
    **rollout: Any,
) -> Controller:
    """Service web: `old` instances of v1 live at their weights (default a: 6, b: 3) and the
    `new` instances of v2 registered, inactive."""
    c = Controller(SqliteStore(path), clock=clock or Clock())
    if c.state.seq:
        return c
    defaults = RolloutDefaults(**{"steps": (10, 50, 100), "bake": 0, "grace": 0, **rollout})
    c.apply_service(ServiceSpec(name="web", rollout=defaults), actor="ops")
    old = {"a": 6, "b": 3} if old is None else old
    for n, instance_id in enumerate([*old, *new], start=1):
        version = "v1" if instance_id in old else "v2"
        address = f"10.0.0.{n}:80"
        item = Instance(id=instance_id, service="web", version=version, address=address)
        c.add_instance(item, actor="ops")
    for instance_id, weight in old.items():
        c.change(instance_id, Activation.live(weight), actor="ops")
    return c


def begin(c: Controller, version: str = "v2", *, actor: str = "alice", **options: Any) -> str:
    """Start a rollout of web to `version`; its id."""
    plan = plan_for(c.state.services["web"], **options)
    entry = start(c, "web", version, plan, actor=actor)
    assert isinstance(entry.event, RolloutStarted)
    return entry.event.rollout_id


def rollout_of(c: Controller, rollout_id: str = "web/1") -> RolloutState:
    return c.state.rollouts[rollout_id]


def judge(c: Controller, outcome: Outcome = Outcome.PASS, *, instance: str | None = None) -> int:
    """The evaluator's verdict on each change of the current step still waiting for one (or
    only on `instance`'s); with fail, the evaluator's rollback of that instance too. How many
    were judged."""
    rollout = c.state.active_rollout("web")
    if rollout is None or rollout.current is None:
        return 0
    judged = 0
    for change in rollout.current.changes:
        if change.seq in c.state.verdicts or not gated_change(rollout, rollout.current, change):
            continue
        if instance is not None and change.instance_id != instance:
            continue
        verdict(c, change.seq, outcome)
        judged += 1
    return judged


def verdict(c: Controller, seq: int, outcome: Outcome) -> None:
    change = c.history()[seq - 1].event
    assert isinstance(change, ActivationChanged)
    event = VerdictRecorded(
        change_seq=seq,
        instance_id=change.instance_id,
        service="web",
        verdict=Verdict(
            outcome=outcome,
            reason=f"{outcome.value} by the test",
            candidate=ArmEvidence(requests=100, errors=30 if outcome is Outcome.FAIL else 0),
            elapsed_s=1.0,
        ),
    )
    c.submit([ProposedEntry(actor=EVALUATOR, reason=event.verdict.reason, event=event)])
    if outcome is Outcome.FAIL and change.after.state in ("live", "shadow"):
        # what the evaluator does with auto_rollback on (a failed step that took replaced
        # instances out is undone by its rollout)
        c.change(change.instance_id, Activation.inactive(), actor=EVALUATOR, reason="rollback")


async def drive(driver: RolloutDriver, c: Controller, *, limit: int = 50) -> None:
    """Step, passing every verdict asked for, until the rollout finishes."""
    for _ in range(limit):
        if not any(r.active for r in c.state.rollouts.values()):
            return
        if not await driver.step():
            assert judge(c), "the rollout waits, but not for a verdict"
    raise AssertionError("the rollout did not finish")


def rollout_changes(c: Controller, rollout_id: str = "web/1") -> list[tuple[str, str, str]]:
    """(instance, before, after) of each change the rollout made, in ledger order."""
    return [
        (e.event.instance_id, e.event.before.describe(), e.event.after.describe())
        for e in c.history()
        if isinstance(e.event, ActivationChanged) and e.event.rollout_id == rollout_id
    ]


def entries_of(c: Controller, rollout_id: str = "web/1") -> list[Entry]:
    return [e for e in c.history() if getattr(e.event, "rollout_id", None) == rollout_id]
