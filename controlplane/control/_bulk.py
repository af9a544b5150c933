"""Many services and instances in one ledger batch: a discovery sync or a migration.

What to append is worked out from the current state, like `kubectl apply`: a service whose spec
is the one the ledger holds, or an instance registered exactly so already, is left alone (so
running the same sync twice appends nothing the second time); the rest is appended in one
transaction, each instance optionally followed by the activation it starts in. The rules
check the whole batch as one (controlplane.model.check_batch): one refusal refuses it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.model import (
    Activation,
    ActivationChanged,
    ActivationState,
    Event,
    Instance,
    InstanceRegistered,
    ServiceApplied,
    ServiceSpec,
    State,
)


@dataclass(frozen=True, slots=True)
class Registration:
    """An instance to register, and the activation it starts in (inactive when None)."""

    instance: Instance
    activation: Activation | None = None


@dataclass(frozen=True, slots=True)
class BatchPlan:
    events: list[Event]
    services_applied: int
    services_unchanged: int
    instances_registered: int
    instances_unchanged: int
    activations: int


def plan_batch(
    state: State, services: Sequence[ServiceSpec], registrations: Sequence[Registration]
) -> BatchPlan:
    """The events that bring `state` to what the batch describes, services first."""
    events: list[Event] = []
    unchanged_services = 0
    for spec in services:
        if state.services.get(spec.name) == spec:
            unchanged_services += 1
        else:
            events.append(ServiceApplied(spec=spec))
    applied = len(events)
    unchanged_instances = activations = 0
    for registration in registrations:
        instance = registration.instance
        known = state.instances.get(instance.id)
        if known is not None and known.instance == instance:
            unchanged_instances += 1  # its activation is whatever changes made it since
            continue
        events.append(InstanceRegistered(instance=instance))  # a taken id: the rules refuse
        starting = registration.activation
        if starting is not None and starting.state is not ActivationState.INACTIVE:
            events.append(
                ActivationChanged(
                    instance_id=instance.id,
                    service=instance.service,
                    before=Activation.inactive(),
                    after=starting,
                )
            )
            activations += 1
    return BatchPlan(
        events=events,
        services_applied=applied,
        services_unchanged=unchanged_services,
        instances_registered=len(registrations) - unchanged_instances,
        instances_unchanged=unchanged_instances,
        activations=activations,
    )
