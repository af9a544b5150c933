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
    ServiceApplied,
    VerdictRecorded,
)
from controlplane.model._rollout import RolloutState
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
        _check_event(draft.view(), event)
        if isinstance(event, RolloutStepped | RolloutFinished):
            deciding.add(event.rollout_id)
        if isinstance(event, ActivationChanged) and event.rollout_id not in (None, *deciding):
            raise Conflict(
                f"a change of rollout {event.rollout_id} must be appended with the step (or "
                "the finish) that makes it, in one batch"
            )
        if isinstance(event, ActivationChanged):
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


def _check_rollout_change(state: State, event: ActivationChanged) -> None:
    """A rollout changes instances only in the batch of one of its steps, or in the batch that
    finishes it (retirements, or a rollback's restorations), right after that entry."""
    assert event.rollout_id is not None
    rollout = _rollout(state, event.rollout_id, event.service)
    seq = state.seq + 1
    if rollout.active:
        current = rollout.current
        follows = current is not None and seq == current.seq + len(current.changes) + 1
    else:
        assert rollout.finished_seq is not None
        closing = [s for s in rollout.change_seqs if s > rollout.finished_seq]
        follows = seq == rollout.finished_seq + len(closing) + 1
    if not follows:
        raise Conflict(
            f"a change of rollout {rollout.id} must be appended with the step (or the finish) "
            "that makes it"
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
