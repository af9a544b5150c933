"""The controller: the one write path. Rules first, then the ledger, then the listeners."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controlplane.control import Controller, live_share
from controlplane.control._controller import SUBMIT_ATTEMPTS
from controlplane.errors import Conflict, NotFound
from controlplane.ledger import SqliteStore, StaleSequence
from controlplane.model import (
    Activation,
    ActivationChanged,
    Entry,
    Instance,
    InstanceRegistered,
    ProposedEntry,
    ServiceApplied,
    ServiceSpec,
    State,
)

NOON = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[SqliteStore]:
    store = SqliteStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def controller(store: SqliteStore) -> Controller:
    """Services web and api; web has blue live at 100, api has solo live at 1."""
    c = Controller(store, clock=lambda: NOON)
    for name in ("web", "api"):
        c.apply_service(ServiceSpec(name=name), actor="ops")
    for port, (instance_id, service) in enumerate([("blue", "web"), ("solo", "api")], 9000):
        add(c, instance_id, service, port)
    c.change("blue", Activation.live(100), actor="ops")
    c.change("solo", Activation.live(1), actor="ops")
    return c


def add(c: Controller, instance_id: str, service: str = "web", port: int = 9100) -> None:
    address = f"127.0.0.1:{port}"
    c.add_instance(
        Instance(id=instance_id, service=service, version="v1", address=address), actor="ops"
    )


def test_listeners_hear_every_append_with_the_new_state(controller: Controller) -> None:
    heard: list[State] = []
    controller.subscribe(heard.append)
    add(controller, "green")
    entry = controller.change("green", Activation.shadow(5), actor="ops", reason="verify")
    assert [s.seq for s in heard] == [entry.seq - 1, entry.seq]
    assert heard[-1] is controller.state
    assert heard[-1].instances["green"].activation == Activation.shadow(5)


def test_entries_carry_who_why_and_when(controller: Controller, store: SqliteStore) -> None:
    add(controller, "green")
    entry = controller.change("green", Activation.live(5), actor="alice", reason="canary 5%")
    assert (entry.actor, entry.reason, entry.at) == ("alice", "canary 5%", NOON)
    assert store.read()[-1] == entry


def test_a_refused_change_writes_nothing_and_tells_no_one(
    controller: Controller, store: SqliteStore
) -> None:
    heard: list[State] = []
    controller.subscribe(heard.append)
    state, ledger = controller.state, store.read()
    with pytest.raises(Conflict, match="last live instance"):
        controller.change("blue", Activation.inactive(), actor="ops")
    assert (controller.state, store.read(), heard) == (state, ledger, [])


def test_forcing_takes_the_last_live_instance_out(controller: Controller) -> None:
    entry = controller.change("blue", Activation.inactive(), actor="ops", force=True)
    assert isinstance(entry.event, ActivationChanged) and entry.event.forced
    assert controller.state.live_of("web") == []


def test_retiring_a_live_instance_is_refused(controller: Controller) -> None:
    with pytest.raises(Conflict, match="deactivate it first"):
        controller.retire("blue", actor="ops")


def test_a_change_to_an_unknown_instance_is_not_found(controller: Controller) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        controller.change("ghost", Activation.live(1), actor="ops")


def test_history_filters_by_service(controller: Controller) -> None:
    add(controller, "green")
    web = controller.history("web")
    assert [type(e.event) for e in web] == [
        ServiceApplied,
        InstanceRegistered,
        ActivationChanged,
        InstanceRegistered,
    ]
    assert {e.seq for e in web} | {e.seq for e in controller.history("api")} == {
        e.seq for e in controller.history()
    }
    assert all("solo" not in e.model_dump_json() for e in web)


def test_history_of_an_unknown_service_is_not_found(controller: Controller) -> None:
    with pytest.raises(NotFound, match="'nope'") as caught:
        controller.history("nope")
    assert caught.value.field == "service"


def test_a_controller_behind_its_store_rechecks_on_the_caught_up_state(
    store: SqliteStore,
) -> None:
    # Two controllers on one ledger (two replicas): the one that read first never writes
    # over the other; it catches up and checks its batch again.
    first, second = Controller(store), Controller(store)
    first.apply_service(ServiceSpec(name="web"), actor="ops")
    second.apply_service(ServiceSpec(name="api"), actor="ops")
    assert [e.seq for e in store.read()] == [1, 2]
    assert set(second.state.services) == {"web", "api"}
    # A batch the other's entry made invalid is refused whole, and nothing is appended
    first.apply_service(ServiceSpec(name="shop", domains=["store"]), actor="ops")
    with pytest.raises(Conflict, match="'store' already routes to service 'shop'"):
        second.apply_service(ServiceSpec(name="other", domains=["store"]), actor="ops")
    assert [e.seq for e in store.read()] == [1, 2, 3]


class _AlwaysAhead(SqliteStore):
    """A ledger another replica appends to before every one of ours lands."""

    def append(self, batch: Sequence[ProposedEntry], **kwargs: Any) -> list[Entry]:
        n = len(self.read())
        other = ProposedEntry(actor="other", event=ServiceApplied(spec=ServiceSpec(name=f"o{n}")))
        super().append([other], after_seq=n, at=datetime.now(UTC))
        return super().append(batch, **kwargs)


def test_a_replica_outraced_every_time_gets_a_409_and_appends_nothing(tmp_path: Path) -> None:
    store = _AlwaysAhead(tmp_path / "weir.db")
    controller = Controller(store)
    with pytest.raises(StaleSequence, match="re-read and retry") as caught:
        controller.apply_service(ServiceSpec(name="web"), actor="ops")
    assert caught.value.status == 409
    actors = [e.actor for e in store.read()]
    assert actors == ["other"] * SUBMIT_ATTEMPTS  # each attempt met a new entry, ours never landed
    store.close()


def test_live_share_is_weight_over_the_live_total(controller: Controller) -> None:
    add(controller, "green")
    controller.change("green", Activation.live(300), actor="ops")
    state = controller.state
    assert (live_share(state, "blue"), live_share(state, "green")) == (0.25, 0.75)
    controller.change("green", Activation.shadow(50), actor="ops")
    assert live_share(controller.state, "green") == 0.0


def test_a_services_history_is_read_alone_and_the_same_after_a_restart(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "weir.db")
    controller = Controller(store)
    for name in ("web", "api"):
        controller.apply_service(ServiceSpec(name=name), actor="ops")
    for n in range(3):
        for name in ("web", "api"):
            instance = Instance(
                id=f"{name}-{n}", service=name, version="v1", address=f"10.0.0.{n}:80"
            )
            controller.add_instance(instance, actor="ops")
    controller.change("web-1", Activation.live(3), actor="ops")
    everything = controller.history()

    web = controller.history("web")

    def of_web(entry: Entry) -> bool:
        if isinstance(entry.event, ServiceApplied):
            return entry.event.spec.name == "web"
        if isinstance(entry.event, InstanceRegistered):
            return entry.event.instance.service == "web"
        return getattr(entry.event, "service", None) == "web"

    assert web == [e for e in everything if of_web(e)] and len(web) == 1 + 3 + 1
    assert controller.history("web", after_seq=web[2].seq) == web[3:]
    assert Controller(SqliteStore(tmp_path / "weir.db")).history("web") == web  # a restart


class _SlowDisk(SqliteStore):
    """A store whose every transaction takes a while, as an fsync does, counted."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions = 0

    def append(self, batch: Sequence[ProposedEntry], **kwargs: Any) -> list[Entry]:
        self.transactions += 1
        time.sleep(0.02)
        return super().append(batch, **kwargs)


def test_batches_submitted_together_share_a_transaction_and_keep_their_own_outcome(
    tmp_path: Path,
) -> None:
    # Given a controller whose store waits for its disk, and sixteen writers at once
    store = _SlowDisk(tmp_path / "weir.db")
    controller = Controller(store)
    controller.apply_service(ServiceSpec(name="web"), actor="ops")
    start = threading.Barrier(16)
    outcomes: dict[int, object] = {}

    def write(n: int) -> None:
        instance_id = "dup" if n in (3, 11) else f"i{n}"  # two writers race for one id
        instance = Instance(id=instance_id, service="web", version="v1", address="10.0.0.1:80")
        start.wait()
        try:
            outcomes[n] = controller.add_instance(instance, actor=f"w{n}")
        except Conflict as exc:
            outcomes[n] = exc

    writers = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=30)

    # Then each writer got its own entry (or, for one of the racing two, its own refusal)
    entries = {n: e for n, e in outcomes.items() if isinstance(e, Entry)}
    refused = [e for e in outcomes.values() if isinstance(e, Conflict)]
    assert len(entries) == 15 and len(refused) == 1 and "'dup'" in str(refused[0])
    assert all(e.actor == f"w{n}" for n, e in entries.items())
    assert sorted(e.seq for e in entries.values()) == list(range(2, 17))  # gap-free
    assert store.read()[1:] == sorted(entries.values(), key=lambda e: e.seq)
    assert len(controller.state.instances) == 15
    # in fewer transactions than writers: one wait for the disk served several
    assert store.transactions < 1 + 16
