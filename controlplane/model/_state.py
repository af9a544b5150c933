"""The current state: a fold over the ledger, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from controlplane.model._instance import Activation, ActivationState, Instance
from controlplane.model._ledger import (
    ActivationChanged,
    Entry,
    Event,
    InstanceRegistered,
    ServiceApplied,
    VerdictRecorded,
)
from controlplane.model._service import ServiceSpec
from controlplane.model._verdict import Verdict


@dataclass(frozen=True, slots=True)
class InstanceState:
    instance: Instance
    activation: Activation
    since_seq: int
    """The ledger entry that gave the instance its current activation."""

    @property
    def state(self) -> ActivationState:
        return self.activation.state


def _frozen_dict() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class State:
    services: Mapping[str, ServiceSpec] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    instances: Mapping[str, InstanceState] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    verdicts: Mapping[int, Verdict] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Change entry seq → the latest verdict recorded on it."""
    seq: int = 0
    """The last ledger entry folded in."""

    def instances_of(self, service: str) -> list[InstanceState]:
        """A service's instances in registration order (ids are unique; order is stable)."""
        return [i for i in self.instances.values() if i.instance.service == service]

    def live_of(self, service: str) -> list[InstanceState]:
        return [i for i in self.instances_of(service) if i.state is ActivationState.LIVE]


def apply_event(state: State, event: Event, seq: int) -> State:
    """The state after one event. Pure; the event is assumed to have passed the rules."""
    match event:
        case ServiceApplied(spec=spec):
            services = dict(state.services)
            services[spec.name] = spec
            return replace(state, services=MappingProxyType(services), seq=seq)
        case InstanceRegistered(instance=instance):
            instances = dict(state.instances)
            instances[instance.id] = InstanceState(instance, Activation.inactive(), seq)
            return replace(state, instances=MappingProxyType(instances), seq=seq)
        case ActivationChanged(instance_id=instance_id, after=after):
            instances = dict(state.instances)
            instances[instance_id] = replace(
                instances[instance_id], activation=after, since_seq=seq
            )
            return replace(state, instances=MappingProxyType(instances), seq=seq)
        case VerdictRecorded(change_seq=change_seq, verdict=verdict):
            verdicts = dict(state.verdicts)
            verdicts[change_seq] = verdict
            return replace(state, verdicts=MappingProxyType(verdicts), seq=seq)
    raise TypeError(f"unknown event {event!r}")


def fold(entries: Iterable[Entry], state: State | None = None) -> State:
    """The state after the given entries, in sequence order, starting from `state`."""
    current = state or State()
    for entry in entries:
        if entry.seq != current.seq + 1:
            raise ValueError(f"ledger gap: entry {entry.seq} follows {current.seq}")
        current = apply_event(current, entry.event, entry.seq)
    return current
