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
from controlplane.model._rollout import RolloutState, StageChange, StageRecord
from controlplane.model._service import ServiceSpec
from controlplane.model._tokens import TokenCreated, TokenRevoked, TokenState
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
    rollouts: Mapping[str, RolloutState] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Rollout id → what it has done so far; finished rollouts stay, with their outcome."""
    tokens: Mapping[str, TokenState] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Token name → its role and secret's digest; revoked tokens leave."""
    seq: int = 0
    """The last ledger entry folded in."""

    def instances_of(self, service: str) -> list[InstanceState]:
        """A service's instances in registration order (ids are unique; order is stable)."""
        return [i for i in self.instances.values() if i.instance.service == service]

    def live_of(self, service: str) -> list[InstanceState]:
        return [i for i in self.instances_of(service) if i.state is ActivationState.LIVE]

    def active_rollout(self, service: str) -> RolloutState | None:
        """The service's rollout in progress (at most one), if any."""
        for rollout in self.rollouts.values():
            if rollout.service == service and rollout.active:
                return rollout
        return None

    def rollouts_of(self, service: str) -> list[RolloutState]:
        """A service's rollouts, oldest first."""
        return [r for r in self.rollouts.values() if r.service == service]

    def last_rollout(self, service: str) -> RolloutState | None:
        """The service's newest rollout, running or finished."""
        return next(reversed(self.rollouts_of(service)), None)


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
        case ActivationChanged(instance_id=instance_id, after=after, rollout_id=rollout_id):
            instances = dict(state.instances)
            instances[instance_id] = replace(
                instances[instance_id], activation=after, since_seq=seq
            )
            state = replace(state, instances=MappingProxyType(instances), seq=seq)
            if rollout_id is None:
                return state
            return _with_rollout(state, _rollout_change(state.rollouts[rollout_id], event, seq))
        case VerdictRecorded(change_seq=change_seq, verdict=verdict):
            verdicts = dict(state.verdicts)
            verdicts[change_seq] = verdict
            return replace(state, verdicts=MappingProxyType(verdicts), seq=seq)
        case RolloutStarted():
            started = RolloutState(
                id=event.rollout_id,
                service=event.service,
                version=event.version,
                plan=event.plan,
                candidates=event.candidates,
                replaced=event.replaced,
                started_seq=seq,
                prior=MappingProxyType({p.instance_id: p.activation for p in event.prior}),
            )
            return _with_rollout(replace(state, seq=seq), started)
        case RolloutStepped(rollout_id=rollout_id):
            rollout = state.rollouts[rollout_id]
            stage = StageRecord(stage=event.stage, label=event.label, at=event.at, seq=seq)
            return _with_rollout(
                replace(state, seq=seq), replace(rollout, stages=(*rollout.stages, stage))
            )
        case RolloutPaused(rollout_id=rollout_id) | RolloutResumed(rollout_id=rollout_id):
            paused = isinstance(event, RolloutPaused)
            rollout = replace(state.rollouts[rollout_id], paused=paused)
            return _with_rollout(replace(state, seq=seq), rollout)
        case RolloutPromoted(rollout_id=rollout_id):
            rollout = state.rollouts[rollout_id]
            *done, current = rollout.stages
            stages = (*done, replace(current, promoted=True))
            return _with_rollout(replace(state, seq=seq), replace(rollout, stages=stages))
        case RolloutFinished(rollout_id=rollout_id, outcome=outcome):
            rollout = replace(
                state.rollouts[rollout_id], outcome=outcome, finished_seq=seq, finished_at=event.at
            )
            return _with_rollout(replace(state, seq=seq), rollout)
        case RolloutUndone(rollout_id=rollout_id):
            rollout = replace(state.rollouts[rollout_id], undone_seq=seq)
            return _with_rollout(replace(state, seq=seq), rollout)
        case ServiceDeleted(service=service):
            # Its instances were retired in the same batch: they stay, so their ids stay taken.
            services = dict(state.services)
            del services[service]
            return replace(state, services=MappingProxyType(services), seq=seq)
        case TokenCreated(name=name, role=role, sha256=sha256):
            tokens = dict(state.tokens)
            tokens[name] = TokenState(name=name, role=role, sha256=sha256, created_seq=seq)
            return replace(state, tokens=MappingProxyType(tokens), seq=seq)
        case TokenRevoked(name=name):
            tokens = dict(state.tokens)
            del tokens[name]
            return replace(state, tokens=MappingProxyType(tokens), seq=seq)
    raise TypeError(f"unknown event {event!r}")


def _with_rollout(state: State, rollout: RolloutState) -> State:
    rollouts = dict(state.rollouts)
    rollouts[rollout.id] = rollout
    return replace(state, rollouts=MappingProxyType(rollouts))


def _rollout_change(rollout: RolloutState, event: ActivationChanged, seq: int) -> RolloutState:
    """A change the rollout made: one of its current step's, or, once it has finished, one of
    its closing changes (the retirements of a completed rollout, the restorations of a rollback
    or of an undo), which follow its RolloutFinished (or RolloutUndone) entry in one batch."""
    touched = (*(i for i in rollout.touched if i != event.instance_id), event.instance_id)
    rollout = replace(rollout, touched=touched, change_seqs=(*rollout.change_seqs, seq))
    current = rollout.current
    if not rollout.active or current is None:
        return rollout
    change = StageChange(seq=seq, instance_id=event.instance_id, after=event.after)
    *done, _ = rollout.stages
    return replace(rollout, stages=(*done, replace(current, changes=(*current.changes, change))))


def fold(entries: Iterable[Entry], state: State | None = None) -> State:
    """The state after the given entries, in sequence order, starting from `state`."""
    current = state or State()
    for entry in entries:
        if entry.seq != current.seq + 1:
            raise ValueError(f"ledger gap: entry {entry.seq} follows {current.seq}")
        current = apply_event(current, entry.event, entry.seq)
    return current
