"""What operators ask of rollouts: start, pause, resume, promote, abort. Each is one batch
through the controller, or a refusal that changes nothing.

Starting records the plan and the activations the rollout found; the driver takes every step
after that. Pause, resume and promote are one entry each, by the operator; abort appends the
rollback (the same batch a failing verdict leads to) at once, without waiting for the driver.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import TypeAdapter

from controlplane.control import BudgetGate, Controller
from controlplane.errors import Conflict, InvalidInput, NotFound
from controlplane.model import (
    DEFAULT_STEPS,
    ActivationState,
    Entry,
    Plan,
    Prior,
    ProposedEntry,
    RolloutOutcome,
    RolloutPaused,
    RolloutPromoted,
    RolloutResumed,
    RolloutStarted,
    RolloutState,
    ServiceSpec,
    State,
    Strategy,
    apply_event,
)
from controlplane.rollout._forecast import fit_default_steps, forecast_steps, refusal
from controlplane.rollout._planner import grace_ends, rollback_batch, undo_batch
from controlplane.verdict import Traffic

_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)


def plan_for(
    spec: ServiceSpec,
    *,
    strategy: Strategy | str | None = None,
    steps: Sequence[float] | None = None,
    bake: float | str | None = None,
    grace: float | str | None = None,
    mirror_percent: float | None = None,
    verify_in_shadow: bool | None = None,
    decide_within: float | str | None = None,
    accept_risk: bool | None = None,
) -> Plan:
    """The plan from what the operator gave, the rest from the service file's rollout section.

    An option the chosen strategy has no use for is refused rather than ignored.
    """
    defaults = spec.rollout
    chosen = Strategy(strategy) if strategy is not None else defaults.strategy
    uses = {
        Strategy.CANARY: {"steps"},
        Strategy.PARTIAL: set(),
        Strategy.BLUE_GREEN: {"mirror_percent", "verify_in_shadow"},
        Strategy.SHADOW: {"steps", "mirror_percent"},
    }[chosen]
    given = {
        "steps": steps,
        "mirror_percent": mirror_percent,
        "verify_in_shadow": verify_in_shadow,
    }
    for name, value in given.items():
        if value is not None and name not in uses:
            raise InvalidInput(f"{name} does not apply to a {chosen.value} rollout", field=name)
    fields: dict[str, object] = {
        "strategy": chosen.value,
        "bake": defaults.bake if bake is None else bake,
        "grace": defaults.grace if grace is None else grace,
        "decide_within": defaults.decide_within if decide_within is None else decide_within,
        "accept_risk": defaults.accept_risk if accept_risk is None else accept_risk,
    }
    if "steps" in uses:
        named = steps if steps is not None else defaults.steps
        fields["steps"] = tuple(named) if named is not None else DEFAULT_STEPS
    if "mirror_percent" in uses:
        fields["mirror_percent"] = (
            defaults.mirror_percent if mirror_percent is None else mirror_percent
        )
    if "verify_in_shadow" in uses:
        fields["verify_in_shadow"] = (
            defaults.verify_in_shadow if verify_in_shadow is None else verify_in_shadow
        )
    return _PLAN.validate_python(fields)


def propose_start(
    state: State,
    service: str,
    version: str,
    plan: Plan,
    *,
    actor: str,
    reason: str = "",
    traffic: Traffic | None = None,
    fit_steps: bool = False,
) -> ProposedEntry:
    """The RolloutStarted entry, or the refusal: unknown service or version, no registered
    instance of it, the version already serving all live traffic, a rollout in progress, or --
    given the service's recent `traffic` -- a step not expected to pass within the plan's
    decide_within (unless it accepts the risk). The entry records each step's forecast.
    `fit_steps`: the plan's steps are weir's defaults, to be fitted to `traffic`
    (`fit_default_steps`)."""
    if service not in state.services:
        raise NotFound(f"unknown service {service!r}", field="service")
    if (running := state.active_rollout(service)) is not None:
        raise Conflict(
            f"service {service!r} already has {running.describe()} in progress; one rollout "
            f"per service at a time: let it finish, or `weir rollout abort {service}`",
            field="service",
        )
    instances = state.instances_of(service)
    of_version = [i for i in instances if i.instance.version == version]
    candidates = [i for i in of_version if i.state is not ActivationState.RETIRED]
    if not candidates:
        if of_version:
            raise NotFound(
                f"every instance of version {version!r} of service {service!r} is retired: "
                "register a new instance of it first (weir instance add)",
                field="version",
            )
        known = sorted({i.instance.version for i in instances})
        raise NotFound(
            f"unknown version {version!r}: no instance of service {service!r} runs it "
            f"(registered versions: {', '.join(known) or 'none'}); register one first "
            "(weir instance add)",
            field="version",
        )
    live = state.live_of(service)
    if live and all(i.instance.version == version for i in live):
        raise Conflict(
            f"version {version!r} already serves all live traffic of service {service!r}: "
            "there is nothing to roll out",
            field="version",
        )
    replaced = [i for i in live if i.instance.version != version]
    number = len(state.rollouts_of(service)) + 1
    event = RolloutStarted(
        rollout_id=f"{service}/{number}",
        service=service,
        version=version,
        plan=plan,
        candidates=tuple(i.instance.id for i in candidates),
        replaced=tuple(i.instance.id for i in replaced),
        prior=tuple(
            Prior(instance_id=i.instance.id, activation=i.activation)
            for i in (*candidates, *replaced)
        ),
    )
    if traffic is not None:
        if fit_steps:
            event = fit_default_steps(state, event, traffic)
        started = apply_event(state, event, state.seq + 1).rollouts[event.rollout_id]
        forecast = forecast_steps(state, started, traffic)
        if (why := refusal(started, forecast, traffic)) is not None:
            raise Conflict(f"no rollout now: {why}", field="decide_within")
        event = event.model_copy(update={"forecast": forecast})
    return ProposedEntry(actor=actor, reason=reason, event=event)


def start(
    controller: Controller,
    service: str,
    version: str,
    plan: Plan,
    *,
    actor: str,
    reason: str = "",
    budget_gate: BudgetGate | None = None,
    traffic: Traffic | None = None,
    fit_steps: bool = False,
) -> Entry:
    """Record a new rollout; the driver takes its steps. Refused with no change while the
    service's error budget is exhausted (`budget_gate`, by default the controller's), or when
    at `traffic` a step would not be decided in time (see `propose_start`, and for
    `fit_steps` weir's default steps fitted to the traffic)."""
    proposed = propose_start(
        controller.state,
        service,
        version,
        plan,
        actor=actor,
        reason=reason,
        traffic=traffic,
        fit_steps=fit_steps,
    )
    refusal = (budget_gate or controller.budget_refusal)(service)
    if refusal:
        raise Conflict(f"no rollout now: {refusal}", field="budget")
    return controller.submit([proposed])[0]


def active(state: State, service: str) -> RolloutState:
    if service not in state.services:
        raise NotFound(f"unknown service {service!r}", field="service")
    rollout = state.active_rollout(service)
    if rollout is None:
        raise NotFound(f"service {service!r} has no rollout in progress", field="service")
    return rollout


def pause(controller: Controller, service: str, *, actor: str, reason: str = "") -> Entry:
    rollout = active(controller.state, service)
    event = RolloutPaused(rollout_id=rollout.id, service=service)
    return controller.submit([ProposedEntry(actor=actor, reason=reason, event=event)])[0]


def resume(controller: Controller, service: str, *, actor: str, reason: str = "") -> Entry:
    rollout = active(controller.state, service)
    event = RolloutResumed(rollout_id=rollout.id, service=service)
    return controller.submit([ProposedEntry(actor=actor, reason=reason, event=event)])[0]


def promote(controller: Controller, service: str, *, actor: str, reason: str = "") -> Entry:
    """Skip the rest of the current step's bake and verdict gate; the entry names who did."""
    rollout = active(controller.state, service)
    if rollout.current is None:
        raise Conflict(f"{rollout.describe()} has not taken its first step yet: nothing to promote")
    event = RolloutPromoted(rollout_id=rollout.id, service=service, stage=rollout.current.stage)
    return controller.submit([ProposedEntry(actor=actor, reason=reason, event=event)])[0]


def abort(controller: Controller, service: str, *, actor: str, reason: str = "") -> list[Entry]:
    """Finish the rollout as aborted and put every instance it touched back, in one batch."""
    state = controller.state
    rollout = active(state, service)
    why = f"aborted by {actor}" + (f": {reason}" if reason else "")
    batch = rollback_batch(state, rollout, RolloutOutcome.ABORTED, actor=actor, why=why)
    return controller.submit(batch)


def undo(controller: Controller, service: str, *, actor: str, reason: str = "") -> list[Entry]:
    """Return the service to the version before its last rollout, completed, while the
    instances it replaced are in their grace: they take their traffic back and the new
    version's instances return to where they were, in one batch. Once those instances are
    retired, the refusal says how to bring the old version back."""
    state = controller.state
    if service not in state.services:
        raise NotFound(f"unknown service {service!r}", field="service")
    rollout = state.last_rollout(service)
    if rollout is None:
        raise NotFound(f"service {service!r} has had no rollout to undo", field="service")
    if rollout.outcome is RolloutOutcome.COMPLETED and rollout.undone_seq is None:
        if not rollout.replaced:
            raise Conflict(
                f"rollout {rollout.id} replaced nothing (no instance of {service} was live "
                "before it): there is no version to go back to"
            )
        retired = ActivationState.RETIRED
        if gone := [i for i in rollout.replaced if state.instances[i].state is retired]:
            raise Conflict(_gone(state, rollout, gone))
    # Anything else the ledger's rules refuse, with their reason (running, rolled back, ...).
    why = f"{service} back to {_versions(state, rollout.replaced)} by {actor}" + (
        f": {reason}" if reason else ""
    )
    return controller.submit(undo_batch(state, rollout, actor=actor, why=why))


def _versions(state: State, ids: Sequence[str]) -> str:
    return ", ".join(dict.fromkeys(state.instances[i].instance.version for i in ids))


def _gone(state: State, rollout: RolloutState, gone: Sequence[str]) -> str:
    """Why undo cannot be, and the commands that bring the old version back."""
    ended = grace_ends(rollout)
    when = f" ended at {ended:%Y-%m-%d %H:%M:%S}Z" if ended else " is over"
    commands = []
    for instance_id in gone:
        item = state.instances[instance_id].instance
        number = 2
        while f"{instance_id}-{number}" in state.instances:
            number += 1
        fresh = f"{instance_id}-{number}"[:63].rstrip("-")
        labels = "".join(f" --label {k}={v}" for k, v in sorted(item.labels.items()))
        commands.append(
            f"  weir instance add {item.service} --id {fresh} --version {item.version} "
            f"--address {item.address}{labels}"
        )
    for version in dict.fromkeys(state.instances[i].instance.version for i in gone):
        commands.append(f"  weir rollout start {rollout.service} --version {version}")
    return (
        f"cannot undo rollout {rollout.id}: the grace of the instances it replaced{when}, and "
        f"{', '.join(gone)} {'is' if len(gone) == 1 else 'are'} retired (retired is final). "
        f"To go back to {_versions(state, gone)}, register it again under new ids (instances "
        "are immutable) and roll it out:\n" + "\n".join(commands)
    )
