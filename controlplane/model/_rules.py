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
    ServiceApplied,
    VerdictRecorded,
)
from controlplane.model._state import State, apply_event


def check_batch(state: State, batch: Sequence[ProposedEntry]) -> State:
    """The state the batch would leave, or the domain error that refuses the whole batch."""
    current = state
    touched: set[str] = set()
    forced: set[str] = set()
    for proposed in batch:
        event = proposed.event
        _check_event(current, event)
        if isinstance(event, ActivationChanged):
            touched.add(event.service)
            if event.forced:
                forced.add(event.service)
        current = apply_event(current, event, current.seq + 1)
    for service in sorted(touched):
        _check_live_weight(state, current, service, forced=service in forced)
    return current


def _check_event(state: State, event: object) -> None:
    match event:
        case ServiceApplied(spec=spec):
            claimed = set(spec.host_domains())
            for other in state.services.values():
                if other.name != spec.name and (shared := claimed & set(other.host_domains())):
                    raise Conflict(
                        f"domain {sorted(shared)[0]!r} already routes to service {other.name!r}; "
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
        case VerdictRecorded(change_seq=change_seq, instance_id=instance_id, service=service):
            current = state.instances.get(instance_id)
            if current is None or current.instance.service != service:
                raise NotFound(f"unknown instance {instance_id!r} of service {service!r}")
            if change_seq > state.seq:
                raise NotFound(f"no ledger entry {change_seq} to judge yet", field="change_seq")
        case _:
            raise TypeError(f"unknown event {event!r}")


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
