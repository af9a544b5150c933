"""The budget freeze under HA: the leader records it in PostgreSQL, and a follower's gate
refuses new live traffic from it. Real PostgreSQL, two controllers on one ledger; the leader's
evaluator is a stand-in whose budgets each test sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.evaluator import Budget
from controlplane.ha import SharedFreeze
from controlplane.harness import SteadyLoad, Upstream
from controlplane.ledger import PostgresStore
from controlplane.model import Activation, Instance, ServiceSpec
from tests.conftest import StartEnvoy
from tests.ha._replicas import leader, replica
from tests.integration._mesh import serves
from tests.support import eventually, free_port

SERVICE = "web"
REFUSAL = "the error budget of service 'web' is exhausted"
LIVE = Activation.live(100)


class Judge:
    """The leader's evaluator as the freeze reads it: `remaining` per service."""

    def __init__(self) -> None:
        self.remaining: float | None = None

    def budget(self, service: str) -> Budget:
        return Budget(service, 99.0, 3600.0, 1000.0, 0.0, 10.0, self.remaining, ())

    def budget_refusal(self, service: str) -> str | None:
        return REFUSAL if self.remaining is not None and self.remaining <= 0 else None


@pytest.fixture
def replicas(ledger_url: str) -> Iterator[tuple[Controller, Controller]]:
    stores = [PostgresStore(ledger_url), PostgresStore(ledger_url)]
    leader, follower = Controller(stores[0]), Controller(stores[1])
    leader.apply_service(ServiceSpec(name=SERVICE), actor="ops")
    for instance_id in ("blue", "green"):
        instance = Instance(id=instance_id, service=SERVICE, version="v1", address="127.0.0.1:9")
        leader.add_instance(instance, actor="ops")
    follower.catch_up()
    yield leader, follower
    for store in stores:
        store.close()


def frozen_in_ledger_db(ledger_url: str) -> list[str]:
    with psycopg.connect(ledger_url) as db:
        rows = db.execute("SELECT service FROM weir_budget_freeze ORDER BY service").fetchall()
    return [str(service) for (service,) in rows]


def new_term(ledger_url: str) -> int:
    """Begin a term, as an election does."""
    with psycopg.connect(ledger_url) as db:
        db.execute("UPDATE weir_leader SET term = term + 1, holder = 'test'")
        row = db.execute("SELECT term FROM weir_leader").fetchone()
    assert row is not None
    return int(row[0])


async def test_a_follower_refuses_new_live_traffic_while_the_leader_says_frozen(
    replicas: tuple[Controller, Controller], ledger_url: str
) -> None:
    leader, follower = replicas
    judge = Judge()
    recorder = SharedFreeze(ledger_url, leader, judge)
    gate = SharedFreeze(ledger_url, follower, Judge())
    follower.gate_on_budget(gate.refusal)
    term = new_term(ledger_url)
    try:
        # Given the leader's evaluator finds the budget spent, and records it
        judge.remaining = -0.5
        await recorder.record(term)
        before = len(follower.history())
        # When an operator activates green through the follower, Then it is refused
        with pytest.raises(Conflict, match="error budget of service 'web' is exhausted"):
            follower.change("green", LIVE, actor="ops")
        assert len(follower.history()) == before  # nothing written
        # And an override goes through
        follower.change("green", LIVE, actor="ops", budget_override=True)
        # When the budget recovers, the leader lifts the freeze, and the follower allows it
        judge.remaining = 0.5
        await recorder.record(term)
        follower.change("blue", LIVE, actor="ops")
    finally:
        gate.close()


async def test_a_leader_without_data_keeps_the_freeze_and_a_former_leader_cannot_lift_it(
    replicas: tuple[Controller, Controller], ledger_url: str
) -> None:
    leader, follower = replicas
    judge = Judge()
    judge.remaining = -1.0
    old = new_term(ledger_url)
    await SharedFreeze(ledger_url, leader, judge).record(old)
    gate = SharedFreeze(ledger_url, follower, Judge())
    try:
        # A new leader whose counts start empty says nothing: the freeze stays
        new = new_term(ledger_url)
        await SharedFreeze(ledger_url, follower, Judge()).record(new)
        assert gate.refusal(SERVICE) == REFUSAL
        # and the former leader, whose budget has recovered, cannot lift it any more
        judge.remaining = 1.0
        with pytest.raises(psycopg.OperationalError, match=f"term {old} is over"):
            await SharedFreeze(ledger_url, leader, judge).record(old)
        assert gate.refusal(SERVICE) == REFUSAL
    finally:
        gate.close()


def test_an_operator_writing_through_a_follower_meets_the_leaders_freeze(
    tmp_path: Path, ledger_url: str, start_envoy: StartEnvoy
) -> None:
    with (
        replica(tmp_path / "a", ledger_url, "--stats", "push") as a,
        replica(tmp_path / "b", ledger_url, "--stats", "push", joining=a) as b,
        Upstream("flaky", error_rate=0.2, error_status=500, seed=7) as flaky,
        Upstream("fix", seed=7) as fix,
    ):
        # Given a leading, and a service failing 20% against a 99% SLO behind an Envoy on a
        eventually(lambda: leader(ledger_url)[1] == a.pid, timeout=10)
        a.service(SERVICE, slo={"success_rate": 99, "window": "1h"},
                  rollout={"auto_rollback": False})  # fmt: skip
        a.instance(SERVICE, "flaky", flaky.address)
        a.instance(SERVICE, "fix", fix.address)
        a.live("flaky", 1)
        listen = f"127.0.0.1:{free_port()}"
        start_envoy(a.bootstrap("proxy-1", listen=listen, delta=False))
        serves(f"http://{listen}/", "flaky")
        with SteadyLoad(f"http://{listen}/", SERVICE, rps=100):
            # until the leader judges its budget spent, and records the freeze
            eventually(lambda: frozen_in_ledger_db(ledger_url) == [SERVICE], timeout=30,
                       interval=0.2)  # fmt: skip
            assert a.call("GET", f"/v1/services/{SERVICE}/budget")["frozen"]
            # When an operator activates fix through b, a follower
            before = len(a.history())
            refused = b.api.post(
                "/v1/instances/fix/activation", json={"state": "live", "weight": 1}
            )
            # Then b refuses it as the leader would, and nothing is written
            assert refused.status_code == 409, refused.text
            assert "error budget" in refused.text and "exhausted" in refused.text
            assert len(a.history()) == before
            # And the override goes through b, recorded
            b.live("fix", 1, override_budget=True)
        # (found by what it is: the leader's verdicts may land after it)
        [override] = [
            e["event"]
            for e in a.history()
            if e["event"]["kind"] == "activation_changed" and e["event"]["instance_id"] == "fix"
        ]
        assert override["budget_override"] is True
