"""Small builders for unit tests: events, batches and states, with no store behind them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controlplane.model import (
    Activation,
    ActivationChanged,
    Entry,
    Event,
    Instance,
    InstanceRegistered,
    ProposedEntry,
    ServiceApplied,
    ServiceSpec,
    State,
    check_batch,
)

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def service(name: str = "web", **fields: Any) -> ServiceApplied:
    return ServiceApplied(spec=ServiceSpec(name=name, **fields))


def instance(
    instance_id: str, service: str = "web", *, address: str = "127.0.0.1:9000", version: str = "v1"
) -> InstanceRegistered:
    return InstanceRegistered(
        instance=Instance(id=instance_id, service=service, version=version, address=address)
    )


def change(
    state: State,
    instance_id: str,
    after: Activation,
    *,
    before: Activation | None = None,
    forced: bool = False,
) -> ActivationChanged:
    """A change from the instance's current activation (or `before`) to `after`."""
    record = state.instances[instance_id]
    return ActivationChanged(
        instance_id=instance_id,
        service=record.instance.service,
        before=before if before is not None else record.activation,
        after=after,
        forced=forced,
    )


def proposed(*events: Event) -> list[ProposedEntry]:
    return [ProposedEntry(actor="test", reason="unit test", event=e) for e in events]


def commit(state: State, *events: Event) -> State:
    """The state after the events, checked by the rules as one batch."""
    return check_batch(state, proposed(*events))


def entries(*events: Event, start: int = 1) -> list[Entry]:
    return [
        Entry(seq=start + n, at=AT, actor="test", event=event) for n, event in enumerate(events)
    ]


def go_live(state: State, instance_id: str, weight: int) -> State:
    return commit(state, change(state, instance_id, Activation.live(weight)))
