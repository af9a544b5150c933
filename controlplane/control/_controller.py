"""The one write path to production: propose ledger entries, check them, append, publish.

Operators (API, CLI) and, later, the evaluator and rollouts all come through here, so every
rule is enforced once and every change lands in the ledger before anything reaches Envoy.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from controlplane.control._term import current_term
from controlplane.errors import Conflict, NotFound
from controlplane.ledger import StaleSequence, Store
from controlplane.model import (
    Activation,
    ActivationChanged,
    ActivationState,
    Entry,
    Instance,
    InstanceRegistered,
    ProposedEntry,
    RolloutFinished,
    RolloutOutcome,
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
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._state = fold(store.read())
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
            self._state = fold(self._store.read(after_seq=before), self._state)
            state = self._state
        if state.seq != before:
            self._publish(state)
        return state

    def _publish(self, state: State) -> None:
        for listener in list(self._listeners):
            listener(state)

    def entries(self, after_seq: int = 0) -> list[Entry]:
        """The ledger's entries after `after_seq`, in order, as the store holds them."""
        return self._store.read(after_seq=after_seq)

    def history(self, service: str | None = None) -> list[Entry]:
        entries = self._store.read()
        if service is None:
            return entries
        mine = [e for e in entries if _service_of(e) == service]
        if not mine and service not in self._state.services:
            raise NotFound(f"unknown service {service!r}", field="service")
        return mine  # a deleted service's too: its history stays in the ledger

    def submit(self, batch: Sequence[ProposedEntry]) -> list[Entry]:
        """Check the batch against the current state and append it in one transaction.

        On a shared ledger another replica may have appended since: the store refuses the
        stale sequence, and the batch is checked again against the caught-up state (so a
        step another replica already took is refused as a conflict, never taken twice)."""
        self._check_budget(batch)
        term = current_term()
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            with self._lock:
                after = check_batch(self._state, batch)
                try:
                    entries = self._store.append(
                        batch, after_seq=self._state.seq, at=self._clock(), term=term
                    )
                except StaleSequence:
                    if attempt == SUBMIT_ATTEMPTS:
                        raise
                    self._state = fold(self._store.read(after_seq=self._state.seq), self._state)
                    caught_up = self._state
                else:
                    self._state = after
                    break
            self._publish(caught_up)
            time.sleep(random.uniform(0, RACE_PAUSE_S * attempt))
        for entry in entries:
            _log_entry(entry)
        self._publish(after)
        return entries

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
        proposed = self.propose_change(
            instance_id, after, actor=actor, reason=reason, force=force,
            budget_override=budget_override,
        )  # fmt: skip
        return self.submit([proposed])[0]

    def retire(self, instance_id: str, *, actor: str, reason: str = "") -> Entry:
        return self.change(instance_id, Activation.retired(), actor=actor, reason=reason)

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
    event = entry.event
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
