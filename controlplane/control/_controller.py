"""The one write path to production: propose ledger entries, check them, append, publish.

Operators (API, CLI) and, later, the evaluator and rollouts all come through here, so every
rule is enforced once and every change lands in the ledger before anything reaches Envoy.
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from controlplane import defaults
from controlplane.control._bulk import BatchPlan, Registration, plan_batch
from controlplane.control._credential import current_credential
from controlplane.control._term import current_term
from controlplane.errors import Conflict, NotFound, Unauthorized
from controlplane.ledger import StaleSequence, Store
from controlplane.model import (
    Activation,
    ActivationChanged,
    ActivationState,
    Entry,
    Event,
    Instance,
    InstanceRegistered,
    ProposedEntry,
    RolloutFinished,
    RolloutOutcome,
    RolloutPaused,
    RolloutUndone,
    ServiceApplied,
    ServiceDeleted,
    ServiceSpec,
    State,
    TokenCreated,
    TokenRevoked,
    check_batch,
    fold,
)
from controlplane.resources import ResourceBuilder, message_refusal, message_sizes

_SHAPES_RESOURCES = (ServiceApplied, InstanceRegistered, ActivationChanged)
"""Events that change what Envoy is sent (the others are history, verdicts and tokens)."""

log = logging.getLogger("weir.ledger")
"""Every appended entry, with its actor: `weir serve --log-format json` makes each a record
with seq, actor, kind, service, instance and reason."""

Listener = Callable[[State], None]
BudgetGate = Callable[[str], str | None]
"""Why a service must not take new live traffic now (its error budget is spent), or None."""


SUBMIT_ATTEMPTS = 10
"""A batch raced by other replicas' appends is re-checked against the caught-up state this
many times (after a short random pause, so racing replicas drift apart) before the 409."""
RACE_PAUSE_S = 0.01


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = _utcnow,
        max_message_bytes: int = defaults.XDS_MAX_MESSAGE_BYTES,
    ) -> None:
        """`max_message_bytes` is the xDS server's message cap: a batch whose state would make
        a larger xDS response is refused before it is appended."""
        self.builder = ResourceBuilder()
        """Builds the Envoy resources of this controller's states, remembering the last: the
        xDS server serving this controller builds with it too, so a push re-encodes nothing
        the append's size check built."""
        self._store = store
        self._clock = clock
        self._max_message_bytes = max_message_bytes
        self._lock = threading.Lock()
        """Held by the thread writing to the store (and folding what it wrote in)."""
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        """Batches submitted and not yet taken by a writing thread."""
        self._seqs: dict[str, array[int]] = {}
        """Service → the numbers of its entries: its history, without reading the ledger's."""
        self._state = State()
        self._fold_in(store.read())
        self._listeners: list[Listener] = []
        self._budget_gate: BudgetGate = lambda service: None

    def gate_on_budget(self, gate: BudgetGate) -> None:
        """Refuse new live activations while `gate` gives a reason (the evaluator's budget)."""
        self._budget_gate = gate

    def budget_refusal(self, service: str) -> str | None:
        """Why `service` must not take new live traffic now, or None (the budget gate's answer).
        A rollout asks before it starts rather than stalling at its first step."""
        return self._budget_gate(service)

    @property
    def state(self) -> State:
        return self._state

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(state)` after every append, from the appending thread, and after
        catching up with entries another replica appended, from the catching-up thread."""
        self._listeners.append(listener)

    def catch_up(self) -> State:
        """Fold in what other replicas appended to a shared ledger since this state was read,
        and tell the listeners if there was anything. Cheap when there is nothing new."""
        with self._lock:
            before = self._state.seq
            self._fold_in(self._store.read(after_seq=before))
            state = self._state
        if state.seq != before:
            self._publish(state)
        return state

    def _fold_in(self, entries: list[Entry], state: State | None = None) -> None:
        """Take appended entries in: the state after them (`state`, when the caller checked
        them already), and the index of each service's entries. Under the lock."""
        self._state = state if state is not None else fold(entries, self._state)
        for entry in entries:
            service = _service_of(entry)
            if service is not None:
                self._seqs.setdefault(service, array("q")).append(entry.seq)

    def _publish(self, state: State) -> None:
        for listener in list(self._listeners):
            listener(state)

    def entries(self, after_seq: int = 0) -> list[Entry]:
        """The ledger's entries after `after_seq`, in order, as the store holds them."""
        return self._store.read(after_seq=after_seq)

    def read_entries(self, seqs: Sequence[int]) -> list[Entry]:
        """The entries numbered `seqs` (ascending)."""
        return self._store.read_seqs(seqs)

    def history(self, service: str | None = None, *, after_seq: int = 0) -> list[Entry]:
        """Every entry after `after_seq`, or the service's: those only are read."""
        if service is None:
            return self._store.read(after_seq)
        with self._lock:
            seqs = self._seqs.get(service)  # a deleted service's too: its history stays
            wanted = seqs[bisect.bisect_right(seqs, after_seq) :].tolist() if seqs else None
        if wanted is None:
            if service not in self._state.services:
                raise NotFound(f"unknown service {service!r}", field="service")
            return []
        return self._store.read_seqs(wanted)

    def submit(self, batch: Sequence[ProposedEntry]) -> list[Entry]:
        """Check the batch against the current state and append it in one transaction.

        Batches submitted at the same time from several threads are written together (group
        commit): the thread that gets to write takes every batch waiting, checks each against
        the state the ones before it leave (each is still all or nothing, and refused on its
        own), and appends those accepted in one transaction, so that one wait for the disk
        serves them all. Each submitter gets its own entries back, or its own refusal.

        On a shared ledger another replica may have appended since: the store refuses the
        stale sequence, and the batches are checked again against the caught-up state (so a
        step another replica already took is refused as a conflict, never taken twice)."""
        self._check_budget(batch)
        mine = _Pending(list(batch), current_term(), current_credential())
        with self._queue_lock:
            self._queue.append(mine)
        with self._lock:
            before = after = self._state
            if not mine.finished:
                with self._queue_lock:
                    waiting, self._queue = self._queue, []
                for group in _by_term(waiting):
                    self._write(group)
                after = self._state
        if after.seq != before.seq:  # the writer tells the listeners, once for all it wrote
            self._publish(after)
        if mine.error is not None:
            raise mine.error
        assert mine.entries is not None
        for entry in mine.entries:
            _log_entry(entry)
        return mine.entries

    def _write(self, group: list[_Pending]) -> None:
        """Append the group's batches that pass the rules in one transaction. Under the lock."""
        term = group[0].term
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            state = self._state
            accepted: list[tuple[_Pending, int, int]] = []
            batch: list[ProposedEntry] = []
            for pending in group:
                try:
                    _check_credential(state, pending.credential)
                    after = check_batch(state, pending.batch)
                    self._check_sendable(pending.batch, state, after)
                except Exception as exc:  # refused (or a bug): that batch alone
                    pending.error = exc
                    continue
                pending.error = None
                accepted.append((pending, len(batch), len(pending.batch)))
                batch += pending.batch
                state = after
            if not accepted:
                return
            try:
                entries = self._store.append(
                    batch, after_seq=self._state.seq, at=self._clock(), term=term
                )
            except StaleSequence as exc:
                if attempt == SUBMIT_ATTEMPTS:
                    for pending, _, _ in accepted:
                        pending.error = exc
                    return
                self._fold_in(self._store.read(after_seq=self._state.seq))
                self._publish(self._state)
                time.sleep(random.uniform(0, RACE_PAUSE_S * attempt))
                continue
            except Exception as exc:  # the store failed or fenced the term: nothing written
                for pending, _, _ in accepted:
                    pending.error = exc
                return
            self._fold_in(entries, state)
            for pending, start, size in accepted:
                pending.entries = entries[start : start + size]
            return

    def _check_sendable(
        self, batch: Sequence[ProposedEntry], before_state: State, after: State
    ) -> None:
        """Refuse a batch whose state could not be sent to Envoy in one xDS message. The
        resources it builds are remembered by the builder, so the push that follows an append
        re-encodes nothing."""
        if not any(isinstance(p.event, _SHAPES_RESOURCES) for p in batch):
            return
        touched = {s for p in batch if (s := _service_of_event(p.event)) is not None}
        built = self.builder.after(before_state, after, touched)
        if message_sizes(built).largest()[1] <= self._max_message_bytes:
            return
        before = self.builder(before_state)
        self.builder(after)  # leave the builder remembering the state that may follow
        refusal = message_refusal(built, before, self._max_message_bytes)
        if refusal is not None:
            raise Conflict(refusal, field="xds_message_bytes")

    def _check_budget(self, batch: Sequence[ProposedEntry]) -> None:
        """New live traffic waits while the budget is spent; taking traffic away never does,
        nor does a rollout's rollback putting back the traffic it had taken away."""
        rolling_back = {
            proposed.event.rollout_id
            for proposed in batch
            if (
                isinstance(proposed.event, RolloutFinished)
                and proposed.event.outcome is not RolloutOutcome.COMPLETED
            )
            or isinstance(proposed.event, RolloutUndone)
        }
        for proposed in batch:
            event = proposed.event
            if (
                isinstance(event, ActivationChanged)
                and event.after.state is ActivationState.LIVE
                and event.before.state is not ActivationState.LIVE
                and not event.budget_override
                and event.rollout_id not in rolling_back
                and (refusal := self._budget_gate(event.service))
            ):
                raise Conflict(refusal, field="budget_override")

    # The operations operators name. Each is one ledger entry.

    def apply_service(self, spec: ServiceSpec, *, actor: str, reason: str = "") -> Entry:
        return self.submit(
            [ProposedEntry(actor=actor, reason=reason, event=ServiceApplied(spec=spec))]
        )[0]

    def apply_batch(
        self,
        services: Sequence[ServiceSpec],
        registrations: Sequence[Registration],
        *,
        actor: str,
        reason: str = "",
    ) -> tuple[BatchPlan, list[Entry]]:
        """Apply services and register instances (each in the activation it starts in) in one
        transaction and one publication; what the ledger holds already is left alone."""
        plan = plan_batch(self._state, services, registrations)
        if not plan.events:
            return plan, []
        batch = [ProposedEntry(actor=actor, reason=reason, event=e) for e in plan.events]
        return plan, self.submit(batch)

    def delete_service(self, service: str, *, actor: str, reason: str = "") -> list[Entry]:
        """Retire the service's instances that are left (inactive or shadow) and delete it, in
        one batch; refused while any instance of it is live."""
        state = self._state
        if service not in state.services:
            raise NotFound(f"unknown service {service!r}", field="service")
        if live := [i.instance.id for i in state.live_of(service)]:
            raise Conflict(
                f"service {service!r} has live instances ({', '.join(live)}): take them out of "
                f"traffic first (weir instance activate {live[0]} --inactive; the last one "
                "needs --force), then delete it",
                field="service",
            )
        why = reason or f"service {service} deleted"
        batch = [
            self.propose_change(record.instance.id, Activation.retired(), actor=actor, reason=why)
            for record in state.instances_of(service)
            if record.state is not ActivationState.RETIRED
        ]
        batch.append(
            ProposedEntry(actor=actor, reason=reason, event=ServiceDeleted(service=service))
        )
        return self.submit(batch)

    def check_service(self, spec: ServiceSpec) -> None:
        """Raise what `apply_service(spec)` would be refused with; append nothing."""
        event = ServiceApplied(spec=spec)
        check_batch(self._state, [ProposedEntry(actor="dry-run", event=event)])

    def add_instance(self, instance: Instance, *, actor: str, reason: str = "") -> Entry:
        event = InstanceRegistered(instance=instance)
        return self.submit([ProposedEntry(actor=actor, reason=reason, event=event)])[0]

    def change(
        self,
        instance_id: str,
        after: Activation,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
        budget_override: bool = False,
    ) -> Entry:
        """The change's entry; see change_batch."""
        return self.change_batch(
            instance_id, after, actor=actor, reason=reason, force=force,
            budget_override=budget_override,
        )[-1]  # fmt: skip

    def change_batch(
        self,
        instance_id: str,
        after: Activation,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
        budget_override: bool = False,
    ) -> list[Entry]:
        """Append one change. An instance a running rollout moves is the rollout's: without
        `force` the change is refused (409 naming the rollout); with it, the rollout is paused
        in the same batch, before the change, so its driver holds off instead of fighting it."""
        proposed = self.propose_change(
            instance_id, after, actor=actor, reason=reason, force=force,
            budget_override=budget_override,
        )  # fmt: skip
        pause = _pause_to_force(self._state, proposed) if force else None
        return self.submit([proposed] if pause is None else [pause, proposed])

    def retire(
        self, instance_id: str, *, actor: str, reason: str = "", force: bool = False
    ) -> Entry:
        return self.change(
            instance_id, Activation.retired(), actor=actor, reason=reason, force=force
        )

    def propose_change(
        self,
        instance_id: str,
        after: Activation,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
        budget_override: bool = False,
    ) -> ProposedEntry:
        current = self._state.instances.get(instance_id)
        if current is None:
            raise NotFound(f"unknown instance {instance_id!r}", field="id")
        event = ActivationChanged(
            instance_id=instance_id,
            service=current.instance.service,
            before=current.activation,
            after=after,
            forced=force,
            budget_override=budget_override,
        )
        return ProposedEntry(actor=actor, reason=reason, event=event)


def _pause_to_force(state: State, proposed: ProposedEntry) -> ProposedEntry | None:
    """The RolloutPaused entry a forced change needs: the running rollout that moves its
    instance, unless that rollout is paused already."""
    change = proposed.event
    assert isinstance(change, ActivationChanged)
    rollout = state.rollout_controlling(change.instance_id)
    if rollout is None or rollout.paused:
        return None
    why = (
        f"{proposed.actor} forced a change of {change.instance_id} "
        f"({change.move()}) while the rollout moved it"
    )
    event = RolloutPaused(rollout_id=rollout.id, service=rollout.service)
    return ProposedEntry(actor=proposed.actor, reason=why, event=event)


def _check_credential(state: State, credential: str | None) -> None:
    """Refuse a write made with a token the state (the ledger it is appended on) no longer
    holds; see control/_credential.py."""
    if credential is not None and not any(t.sha256 == credential for t in state.tokens.values()):
        raise Unauthorized("the bearer token is revoked: nothing was written")


@dataclass(slots=True, eq=False)
class _Pending:
    """A batch waiting to be written, and then what became of it."""

    batch: list[ProposedEntry]
    term: int | None
    credential: str | None
    entries: list[Entry] | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.entries is not None or self.error is not None


def _by_term(waiting: list[_Pending]) -> list[list[_Pending]]:
    """Runs of batches with the same fencing term, in order: one transaction carries one."""
    groups: list[list[_Pending]] = []
    for pending in waiting:
        if groups and groups[-1][0].term == pending.term:
            groups[-1].append(pending)
        else:
            groups.append([pending])
    return groups


def _log_entry(entry: Entry) -> None:
    event = entry.event
    fields = {
        "seq": entry.seq,
        "actor": entry.actor,
        "kind": event.kind,
        "service": _service_of(entry),
        "instance": event.instance.id
        if isinstance(event, InstanceRegistered)
        else getattr(event, "instance_id", None),
        "reason": entry.reason,
    }
    why = f" ({entry.reason})" if entry.reason else ""
    log.info("#%d by %s: %s%s", entry.seq, entry.actor, event.describe(), why, extra=fields)


def _service_of(entry: Entry) -> str | None:
    return _service_of_event(entry.event)


def _service_of_event(event: Event) -> str | None:
    if isinstance(event, ServiceApplied):
        return event.spec.name
    if isinstance(event, InstanceRegistered):
        return event.instance.service
    if isinstance(event, TokenCreated | TokenRevoked):
        return None  # of no one service: in the whole history only
    return event.service


def live_share(state: State, instance_id: str) -> float:
    """The share of its service's real traffic the instance receives, 0..1."""
    record = state.instances[instance_id]
    if record.state is not ActivationState.LIVE:
        return 0.0
    total = sum(i.activation.weight or 0 for i in state.live_of(record.instance.service))
    return (record.activation.weight or 0) / total if total else 0.0
