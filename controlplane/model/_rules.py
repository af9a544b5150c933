"""What the ledger accepts. Pure checks of proposed events against the current state.

Structural rules apply event by event; the live-weight invariants apply to the state a whole
batch leaves behind, so a blue-green switch (green live, then blue inactive, in one
transaction) is judged by where it ends, not by its middle.
"""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.errors import Conflict, NotFound
from controlplane.model._instance import ActivationState
from controlplane.model._ledger import (
    ActivationChanged,
    InstanceRegistered,
    ProposedEntry,
    RolloutFinished,
    RolloutPaused,
    RolloutPromoted,
    RolloutResumed,
    RolloutStarted,
    RolloutStepped,
    RolloutUndone,
    ServiceApplied,
    ServiceDeleted,
    VerdictRecorded,
)
from controlplane.model._rollout import RolloutOutcome, RolloutState
from controlplane.model._state import Draft, State, fold_into
from controlplane.model._tokens import RESERVED_NAMES, Role, TokenCreated, TokenRevoked


def check_batch(state: State, batch: Sequence[ProposedEntry]) -> State:
    """The state the batch would leave, or the domain error that refuses the whole batch."""
    draft = Draft(state)
    touched: set[str] = set()
    forced: set[str] = set()
    deciding: set[str] = set()  # rollouts whose step or finish this batch appends
    for proposed in batch:
        event = proposed.event
        view = draft.view()
        _check_event(view, event)
        if isinstance(event, RolloutStepped | RolloutFinished | RolloutUndone):
            deciding.add(event.rollout_id)
        if isinstance(event, ActivationChanged) and event.rollout_id not in (None, *deciding):
            raise Conflict(
                f"a change of rollout {event.rollout_id} must be appended with the step (or "
                "the finish) that makes it, in one batch"
            )
        if isinstance(event, ActivationChanged):
            _check_rollout_control(view, proposed.actor, event)
            touched.add(event.service)
            if event.forced:
                forced.add(event.service)
        fold_into(draft, event, draft.seq + 1)
    current = draft.freeze()
    for service in sorted(touched):
        _check_live_weight(state, current, service, forced=service in forced)
    return current


def _check_event(state: State, event: object) -> None:
    match event:
        case ServiceApplied(spec=spec):
            owners = state.domain_owners
            taken = sorted(d for d in spec.host_domains() if owners.get(d, spec.name) != spec.name)
            if taken:
                raise Conflict(
                    f"domain {taken[0]!r} already routes to service {owners[taken[0]]!r}; "
                    "a Host value can lead to one service only",
                    field="domains",
                )
        case InstanceRegistered(instance=instance):
            if instance.service not in state.services:
                raise NotFound(
                    f"unknown service {instance.service!r}: apply its service file first",
                    field="service",
                )
            if instance.id in state.instances:
                existing = state.instances[instance.id].instance
                raise Conflict(
                    f"instance id {instance.id!r} is already taken (service "
                    f"{existing.service!r}, version {existing.version!r}); instances are "
                    "immutable, so register the new one under a new id",
                    field="id",
                )
        case ActivationChanged(instance_id=instance_id, before=before, after=after):
            current = state.instances.get(instance_id)
            if current is None:
                raise NotFound(f"unknown instance {instance_id!r}", field="id")
            if event.service != current.instance.service:
                raise Conflict(
                    f"instance {instance_id!r} belongs to service "
                    f"{current.instance.service!r}, not {event.service!r}",
                    field="service",
                )
            if current.activation != before:
                raise Conflict(
                    f"instance {instance_id!r} is {current.activation.describe()}, not "
                    f"{before.describe()}: the state moved on, retry",
                )
            if current.state is ActivationState.RETIRED:
                raise Conflict(f"instance {instance_id!r} is retired; retired is final")
            if after == before:
                raise Conflict(f"instance {instance_id!r} is already {after.describe()}")
            if after.state is ActivationState.RETIRED and before.state is ActivationState.LIVE:
                raise Conflict(
                    f"instance {instance_id!r} is live; deactivate it first "
                    f"(weir instance activate {instance_id} --inactive), so that taking its "
                    "traffic away is a change of its own",
                )
            if event.rollout_id is not None:
                _check_rollout_change(state, event)
        case VerdictRecorded(change_seq=change_seq, instance_id=instance_id, service=service):
            current = state.instances.get(instance_id)
            if current is None or current.instance.service != service:
                raise NotFound(f"unknown instance {instance_id!r} of service {service!r}")
            if change_seq > state.seq:
                raise NotFound(f"no ledger entry {change_seq} to judge yet", field="change_seq")
        case RolloutStarted():
            _check_rollout_start(state, event)
        case RolloutStepped(stage=stage):
            rollout = _active(state, event.rollout_id, event.service)
            if rollout.current is not None and stage <= rollout.current.stage:
                raise Conflict(
                    f"rollout {rollout.id} is already at step {rollout.current.stage + 1}; "
                    f"step {stage + 1} is behind it"
                )
        case RolloutPaused():
            if _active(state, event.rollout_id, event.service).paused:
                raise Conflict(f"rollout {event.rollout_id} is already paused")
        case RolloutResumed():
            if not _active(state, event.rollout_id, event.service).paused:
                raise Conflict(f"rollout {event.rollout_id} is not paused")
        case RolloutPromoted(stage=stage):
            rollout = _active(state, event.rollout_id, event.service)
            step = rollout.current
            if step is None:
                raise Conflict(f"rollout {rollout.id} has not taken its first step yet")
            if step.stage != stage:
                raise Conflict(
                    f"rollout {rollout.id} is at step {step.stage + 1}, not {stage + 1}: the "
                    "state moved on, retry"
                )
            if step.promoted:
                raise Conflict(f"step {stage + 1} of rollout {rollout.id} is already promoted")
        case RolloutFinished():
            _active(state, event.rollout_id, event.service)
        case RolloutUndone():
            _check_undo(state, event)
        case ServiceDeleted(service=service):
            _check_delete(state, service)
        case TokenCreated(name=name):
            if name in RESERVED_NAMES:
                raise Conflict(
                    f"token name {name!r} is reserved: weir itself records changes as "
                    f"{', '.join(sorted(RESERVED_NAMES))}",
                    field="name",
                )
            if name in state.tokens:
                raise Conflict(
                    f"a token named {name!r} exists already; revoke it first "
                    f"(weir token revoke {name}) or choose another name",
                    field="name",
                )
            if any(t.sha256 == event.sha256 for t in state.tokens.values()):
                raise Conflict("a token with this secret exists already", field="sha256")
        case TokenRevoked(name=name):
            token = state.tokens.get(name)
            if token is None:
                raise NotFound(f"no token named {name!r}", field="name")
            admins = [t for t in state.tokens.values() if t.role is Role.ADMIN]
            if token.role is Role.ADMIN and len(admins) == 1:
                raise Conflict(
                    f"{name!r} is the last admin token: nobody could create tokens or apply "
                    "services after its revocation; create another admin token first",
                    field="name",
                )
        case _:
            raise TypeError(f"unknown event {event!r}")


def _rollout(state: State, rollout_id: str, service: str) -> RolloutState:
    rollout = state.rollouts.get(rollout_id)
    if rollout is None or rollout.service != service:
        raise NotFound(f"no rollout {rollout_id} of service {service!r}", field="rollout_id")
    return rollout


def _active(state: State, rollout_id: str, service: str) -> RolloutState:
    rollout = _rollout(state, rollout_id, service)
    if not rollout.active:
        assert rollout.outcome is not None
        raise Conflict(
            f"rollout {rollout_id} has finished ({rollout.outcome.value.replace('_', ' ')})"
        )
    return rollout


def _check_rollout_start(state: State, event: RolloutStarted) -> None:
    service = event.service
    if service not in state.services:
        raise NotFound(f"unknown service {service!r}", field="service")
    if (running := state.active_rollout(service)) is not None:
        raise Conflict(
            f"service {service!r} already has {running.describe()} in progress; one rollout "
            f"per service at a time: let it finish, or `weir rollout abort {service}`",
            field="service",
        )
    if event.rollout_id in state.rollouts or not event.rollout_id.startswith(f"{service}/"):
        raise Conflict(f"rollout id {event.rollout_id!r} is taken or names another service")
    for role, ids in (("candidate", event.candidates), ("replaced", event.replaced)):
        for instance_id in ids:
            record = state.instances.get(instance_id)
            if record is None or record.instance.service != service:
                raise NotFound(f"no instance {instance_id!r} of service {service!r}", field="id")
            if record.state is ActivationState.RETIRED:
                raise Conflict(f"instance {instance_id!r} is retired")
            if (record.instance.version == event.version) != (role == "candidate"):
                raise Conflict(
                    f"instance {instance_id!r} runs {record.instance.version!r}: it cannot be "
                    f"a {role} instance of a rollout to {event.version!r}"
                )
    prior = {p.instance_id: p.activation for p in event.prior}
    if set(prior) != {*event.candidates, *event.replaced} or len(prior) != len(event.prior):
        raise Conflict("a rollout records the prior activation of each instance it may touch")
    for instance_id, activation in prior.items():
        current = state.instances[instance_id].activation
        if current != activation:
            raise Conflict(
                f"instance {instance_id!r} is {current.describe()}, not "
                f"{activation.describe()}: the state moved on, retry"
            )


def _check_undo(state: State, event: RolloutUndone) -> None:
    """Only the service's newest rollout, completed, undone once, while every instance it
    replaced is still there to take the traffic back."""
    rollout = _rollout(state, event.rollout_id, event.service)
    if rollout.active:
        raise Conflict(
            f"{rollout.describe()} is still in progress: `weir rollout abort {rollout.service}` "
            "rolls it back"
        )
    if rollout.outcome is not RolloutOutcome.COMPLETED:
        assert rollout.outcome is not None
        raise Conflict(
            f"{rollout.service}'s last rollout, {rollout.id}, was "
            f"{rollout.outcome.value.replace('_', ' ')}: it left the service as it found it, "
            "there is nothing to undo"
        )
    if rollout.undone_seq is not None:
        raise Conflict(
            f"rollout {rollout.id} was undone already (ledger entry {rollout.undone_seq})"
        )
    last = state.last_rollout(rollout.service)
    if last is not None and last.id != rollout.id:
        raise Conflict(f"rollout {rollout.id} is not {rollout.service}'s last: {last.id} is")
    gone = [i for i in rollout.replaced if state.instances[i].state is ActivationState.RETIRED]
    if gone:
        raise Conflict(
            f"the instances rollout {rollout.id} replaced are retired ({', '.join(gone)}): "
            "register the old version again and roll it out"
        )


def _check_delete(state: State, service: str) -> None:
    if service not in state.services:
        raise NotFound(f"unknown service {service!r}", field="service")
    if (running := state.active_rollout(service)) is not None:
        raise Conflict(
            f"service {service!r} has {running.describe()} in progress: let it finish, or "
            f"`weir rollout abort {service}`",
            field="service",
        )
    left = [
        i.instance.id for i in state.instances_of(service) if i.state is not ActivationState.RETIRED
    ]
    if left:
        raise Conflict(
            f"service {service!r} still has instances that are not retired ({', '.join(left)}); "
            "a service is deleted with its instances retired first, in the same batch",
            field="service",
        )


def _check_rollout_change(state: State, event: ActivationChanged) -> None:
    """A rollout changes instances only in the batch of one of its steps, or in the batch that
    finishes it (retirements, or a rollback's restorations) or undoes it, right after that
    entry."""
    assert event.rollout_id is not None
    rollout = _rollout(state, event.rollout_id, event.service)
    seq = state.seq + 1
    if rollout.active:
        current = rollout.current
        follows = current is not None and seq == current.seq + len(current.changes) + 1
    else:
        anchor = rollout.undone_seq or rollout.finished_seq
        assert anchor is not None
        closing = [s for s in rollout.change_seqs if s > anchor]
        follows = seq == anchor + len(closing) + 1
    if not follows:
        raise Conflict(
            f"a change of rollout {rollout.id} must be appended with the step (or the finish) "
            "that makes it"
        )


def _check_rollout_control(state: State, actor: str, event: ActivationChanged) -> None:
    """A change to an instance that a running rollout moves would be undone or fought by the
    rollout's next step while the rollout claims its step: refused unless the rollout is
    paused, by an earlier entry or by one earlier in this batch (what `--force` appends).

    Never refused: the rollout's own changes (they carry its id, and appear only in its steps'
    and finish's batches) and weir's own actors (the evaluator undoing a failing change)."""
    if event.rollout_id is not None or actor in RESERVED_NAMES:
        return
    rollout = state.rollout_controlling(event.instance_id)
    if rollout is None or rollout.paused:
        return
    raise Conflict(
        f"instance {event.instance_id!r} is controlled by {rollout.describe()}, "
        f"{rollout.position()}; pause it (weir rollout pause {rollout.service}) or abort it "
        "first, or repeat with --force, which pauses it in the same ledger batch as this change",
        field="force",
    )


def _check_live_weight(before: State, after: State, service: str, *, forced: bool) -> None:
    live_after = after.live_of(service)
    if live_after and sum(i.activation.weight or 0 for i in live_after) == 0:
        raise Conflict(
            f"service {service!r} would have live instances with a total weight of 0; "
            "give at least one live instance a positive weight",
            field="weight",
        )
    if before.live_of(service) and not live_after and not forced:
        raise Conflict(
            f"this would take the last live instance of service {service!r} out of traffic, "
            "leaving it nothing to serve with; repeat with --force to do it anyway",
            field="force",
        )
