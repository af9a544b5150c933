"""Webhooks across a failover: the new leader carries on from where the old one's deliveries
got to (a cursor in PostgreSQL), so what was delivered is not sent again, and what was not is
sent with the same delivery id the old leader used. Real processes, a real receiver."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import psycopg

from tests.ha._replicas import leader, replica
from tests.integration._weir import WeirServer
from tests.notify._receiver import Receiver
from tests.support import eventually

CANARY = {"service": "web", "version": "v2", "steps": [50, 100], "bake": "0s"}


def given_a_service(weir: WeirServer) -> None:
    weir.service("web")
    weir.instance("web", "v1-a", "127.0.0.1:9001", version="v1")
    weir.instance("web", "v2-a", "127.0.0.1:9002", version="v2")
    weir.live("v1-a", 1)


def cursor(ledger_url: str) -> int | None:
    with psycopg.connect(ledger_url) as db:
        row = db.execute("SELECT seq FROM weir_notify_cursor").fetchone()
    return None if row is None else int(row[0])


def last_seq(ledger_url: str) -> int:
    with psycopg.connect(ledger_url) as db:
        row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger").fetchone()
    assert row is not None
    return int(row[0])


def test_a_new_leader_does_not_resend_what_the_old_one_delivered(
    tmp_path: Path, ledger_url: str
) -> None:
    with Receiver() as receiver, ExitStack() as stack:
        options = ("--stats", "off", "--webhook", receiver.url)
        a = stack.enter_context(replica(tmp_path / "a", ledger_url, *options))
        eventually(lambda: leader(ledger_url)[1] == a.pid, timeout=10)
        b = stack.enter_context(replica(tmp_path / "b", ledger_url, *options, joining=a))
        given_a_service(a)
        # Given a canary whose start and first step a told the receiver of
        a.call("POST", "/v1/rollouts", CANARY, expect=201)
        eventually(lambda: receiver.events() == ["rollout.started", "rollout.step"], timeout=10)
        eventually(lambda: cursor(ledger_url) == last_seq(ledger_url), timeout=5)
        # When a is killed, b leads, and the canary is promoted through b
        a.kill9()
        eventually(lambda: leader(ledger_url)[1] == b.pid, timeout=10)
        b.call("POST", "/v1/rollouts/web/promote", {})
        # Then the receiver hears of the promotion, and nothing a had delivered again
        eventually(lambda: "rollout.promoted" in receiver.events(), timeout=10)
        events = receiver.events()
        deliveries = [attempt.delivery for attempt in receiver.attempts()]
    assert events[:2] == ["rollout.started", "rollout.step"]
    assert events.count("rollout.started") == 1, events
    assert len(deliveries) == len(set(deliveries)), deliveries
    # each id names its ledger entry, so it is the same whichever replica sends it
    assert [d.partition(":")[2] for d in deliveries] == events


def test_what_the_old_leader_could_not_deliver_comes_from_the_new_one_with_the_same_id(
    tmp_path: Path, ledger_url: str
) -> None:
    with Receiver(fail_first=10**6) as receiver, ExitStack() as stack:
        options = ("--stats", "off", "--webhook", receiver.url)
        a = stack.enter_context(replica(tmp_path / "a", ledger_url, *options))
        eventually(lambda: leader(ledger_url)[1] == a.pid, timeout=10)
        b = stack.enter_context(replica(tmp_path / "b", ledger_url, *options, joining=a))
        given_a_service(a)
        eventually(lambda: cursor(ledger_url) == last_seq(ledger_url), timeout=5)
        # Given a canary's start that a tried to deliver, to a receiver refusing it (503)
        a.call("POST", "/v1/rollouts", CANARY, expect=201)
        eventually(lambda: len(receiver.attempts()) >= 1, timeout=10)
        tried = receiver.attempts()[0]
        # When a is killed before it delivers, the receiver recovers, and b leads
        a.kill9()
        receiver.fail_first = 0
        eventually(lambda: leader(ledger_url)[1] == b.pid, timeout=10)
        # Then b delivers the start, under the id a used
        eventually(lambda: "rollout.started" in receiver.events(), timeout=15)
        accepted = [x for x in receiver.attempts() if x.status < 300]
    assert tried.body["event"] == "rollout.started" and tried.status == 503
    assert accepted[0].delivery == tried.delivery
    assert accepted[0].body["id"] == tried.body["id"]
