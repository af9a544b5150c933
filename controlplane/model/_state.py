"""The current state: a fold over the ledger, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

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
    instance_ids: Mapping[str, Sequence[str]] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Service → the ids of its instances in registration order: an index, so that what is
    asked of one service costs that service's instances, not the whole mesh's."""
    rollout_ids: Mapping[str, Sequence[str]] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Service → the ids of its rollouts, oldest first (the same kind of index)."""
    in_progress: Mapping[str, str] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Service → the id of its rollout in progress (at most one a service)."""
    domain_owners: Mapping[str, str] = field(default_factory=_frozen_dict)  # type: ignore[arg-type]
    """Host/authority value → the service it routes to (an index of every service's
    `host_domains()`)."""

    def instances_of(self, service: str) -> list[InstanceState]:
        """A service's instances in registration order (ids are unique; order is stable)."""
        instances = self.instances
        return [instances[i] for i in self.instance_ids.get(service, ())]

    def live_of(self, service: str) -> list[InstanceState]:
        return [i for i in self.instances_of(service) if i.state is ActivationState.LIVE]

    def active_rollout(self, service: str) -> RolloutState | None:
        """The service's rollout in progress (at most one), if any."""
        rollout_id = self.in_progress.get(service)
        return self.rollouts[rollout_id] if rollout_id is not None else None

    def active_rollouts(self) -> list[RolloutState]:
        """Every rollout in progress, by service."""
        return [self.rollouts[self.in_progress[s]] for s in sorted(self.in_progress)]

    def rollout_controlling(self, instance_id: str) -> RolloutState | None:
        """The rollout in progress that moves this instance (a candidate or a replaced one)."""
        record = self.instances.get(instance_id)
        if record is None:
            return None
        rollout = self.active_rollout(record.instance.service)
        return rollout if rollout is not None and rollout.controls(instance_id) else None

    def rollouts_of(self, service: str) -> list[RolloutState]:
        """A service's rollouts, oldest first."""
        return [self.rollouts[r] for r in self.rollout_ids.get(service, ())]

    def last_rollout(self, service: str) -> RolloutState | None:
        """The service's newest rollout, running or finished."""
        return next(reversed(self.rollouts_of(service)), None)


class Draft:
    """A state being folded: its mappings copied once, on their first change, then changed in
    place. Folding a batch or a whole ledger this way costs each entry its own work, not a
    copy of every mapping per entry (what one `apply_event` after another would cost).

    `view()` is a State over the draft as it is (no copy): only for reading before the next
    change. `freeze()` is the final State; the draft is not used after it.
    """

    __slots__ = ("_base", "_copied", "_fields", "_listed", "seq")

    def __init__(self, base: State) -> None:
        self._base = base
        self._fields: dict[str, Mapping[Any, Any]] = {
            name: getattr(base, name) for name in _MAPPINGS
        }
        self._copied: set[str] = set()
        self._listed: dict[str, set[str]] = {"instance_ids": set(), "rollout_ids": set()}
        """Per index: the services whose id list the draft has made its own (a list)."""
        self.seq = base.seq

    def get(self, name: str) -> Mapping[Any, Any]:
        return self._fields[name]

    def own(self, name: str) -> dict[Any, Any]:
        """The mapping `name`, the draft's own to change."""
        if name not in self._copied:
            self._fields[name] = dict(self._fields[name])
            self._copied.add(name)
        return self._fields[name]  # type: ignore[return-value]

    def append_id(self, index: str, service: str, item: str) -> None:
        ids = self.own(index)
        if service not in self._listed[index]:
            ids[service] = list(ids.get(service, ()))
            self._listed[index].add(service)
        ids[service].append(item)

    def view(self) -> State:
        return State(
            **{name: MappingProxyType(self._fields[name]) for name in _MAPPINGS},
            seq=self.seq,
        )

    def freeze(self) -> State:
        if not self._copied and self.seq == self._base.seq:
            return self._base
        for index, services in self._listed.items():
            ids = self._fields[index]
            for service in services:
                ids[service] = tuple(ids[service])  # type: ignore[index]
        fields = {
            name: MappingProxyType(mapping) if name in self._copied else mapping
            for name, mapping in self._fields.items()
        }
        return State(**fields, seq=self.seq)


_MAPPINGS = (
    "services",
    "instances",
    "verdicts",
    "rollouts",
    "tokens",
    "instance_ids",
    "rollout_ids",
    "in_progress",
    "domain_owners",
)


def apply_event(state: State, event: Event, seq: int) -> State:
    """The state after one event. Pure; the event is assumed to have passed the rules."""
    draft = Draft(state)
    fold_into(draft, event, seq)
    return draft.freeze()


def fold_into(draft: Draft, event: Event, seq: int) -> None:
    """Fold one event into the draft (the same as `apply_event`, in place)."""
    draft.seq = seq
    match event:
        case ServiceApplied(spec=spec):
            services, owners = draft.own("services"), draft.own("domain_owners")
            if (earlier := services.get(spec.name)) is not None:
                for domain in earlier.host_domains():
                    owners.pop(domain, None)
            services[spec.name] = spec
            owners.update(dict.fromkeys(spec.host_domains(), spec.name))
            return
        case InstanceRegistered(instance=instance):
            draft.own("instances")[instance.id] = InstanceState(
                instance, Activation.inactive(), seq
            )
            draft.append_id("instance_ids", instance.service, instance.id)
            return
        case ActivationChanged(instance_id=instance_id, after=after, rollout_id=rollout_id):
            instances = draft.own("instances")
            instances[instance_id] = replace(
                instances[instance_id], activation=after, since_seq=seq
            )
            if rollout_id is not None:
                rollout = draft.get("rollouts")[rollout_id]
                _with_rollout(draft, _rollout_change(rollout, event, seq))
            return
        case VerdictRecorded(change_seq=change_seq, verdict=verdict):
            draft.own("verdicts")[change_seq] = verdict
            return
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
            _with_rollout(draft, started)
            draft.append_id("rollout_ids", event.service, event.rollout_id)
            draft.own("in_progress")[event.service] = event.rollout_id
            return
        case RolloutStepped(rollout_id=rollout_id):
            rollout = draft.get("rollouts")[rollout_id]
            stage = StageRecord(stage=event.stage, label=event.label, at=event.at, seq=seq)
            _with_rollout(draft, replace(rollout, stages=(*rollout.stages, stage)))
            return
        case RolloutPaused(rollout_id=rollout_id) | RolloutResumed(rollout_id=rollout_id):
            paused = isinstance(event, RolloutPaused)
            _with_rollout(draft, replace(draft.get("rollouts")[rollout_id], paused=paused))
            return
        case RolloutPromoted(rollout_id=rollout_id):
            rollout = draft.get("rollouts")[rollout_id]
            *done, current = rollout.stages
            stages = (*done, replace(current, promoted=True))
            _with_rollout(draft, replace(rollout, stages=stages))
            return
        case RolloutFinished(rollout_id=rollout_id, outcome=outcome):
            rollout = draft.get("rollouts")[rollout_id]
            finished = replace(rollout, outcome=outcome, finished_seq=seq, finished_at=event.at)
            _with_rollout(draft, finished)
            draft.own("in_progress").pop(rollout.service, None)
            return
        case RolloutUndone(rollout_id=rollout_id):
            rollout = draft.get("rollouts")[rollout_id]
            _with_rollout(draft, replace(rollout, undone_seq=seq))
            return
        case ServiceDeleted(service=service):
            # Its instances were retired in the same batch: they stay, so their ids stay taken.
            services, owners = draft.own("services"), draft.own("domain_owners")
            for domain in services.pop(service).host_domains():
                if owners.get(domain) == service:
                    del owners[domain]
            return
        case TokenCreated(name=name, role=role, sha256=sha256):
            draft.own("tokens")[name] = TokenState(
                name=name, role=role, sha256=sha256, created_seq=seq
            )
            return
        case TokenRevoked(name=name):
            del draft.own("tokens")[name]
            return
    raise TypeError(f"unknown event {event!r}")


def _with_rollout(draft: Draft, rollout: RolloutState) -> None:
    draft.own("rollouts")[rollout.id] = rollout


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
    draft = Draft(state or State())
    for entry in entries:
        if entry.seq != draft.seq + 1:
            raise ValueError(f"ledger gap: entry {entry.seq} follows {draft.seq}")
        fold_into(draft, entry.event, entry.seq)
    return draft.freeze()
