"""Replicas of `weir serve` on one PostgreSQL ledger, under faults: the leader killed -9 in the
middle of a canary, and a leader paused (SIGSTOP) long enough to lose its term.

Given/When/Then, with real processes: two replicas, a real Envoy bootstrapped with both
controllers' addresses, upstreams answering with their instance id, and steady load."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.ha._replicas import (
    bootstrap_on,
    fenced_writes_out_of_term,
    leader,
    leader_writes_without_term,
    ledger_terms,
    replica,
)
from tests.integration._mesh import SERVICE, serves
from tests.integration._weir import WeirServer
from tests.support import eventually, free_port

RPS = 200
SLO = {"success_rate": 95, "latency_p99_ms": 1000}  # as tests/integration/test_rollouts.py
CANARY = {"service": SERVICE, "version": "v2", "bake": "2s", "grace": "0s",
          "strategy": "canary", "steps": [10, 50, 100]}  # fmt: skip
TAKEOVER_S = 10.0


def rollout(weir: WeirServer) -> dict[str, Any]:
    status: dict[str, Any] = weir.call("GET", f"/v1/rollouts/{SERVICE}")
    return status


def finished(weir: WeirServer, timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any]:
        status = rollout(weir)
        assert status["state"] in ("completed", "rolled_back", "aborted"), status["next"]
        return status

    result: dict[str, Any] = eventually(done, timeout=timeout, interval=0.25)
    return result


def retired(weir: WeirServer, instance_id: str) -> bool:
    view = weir.call("GET", f"/v1/instances/{instance_id}")
    return bool(view["activation"]["state"] == "retired")


def leads(ledger_url: str, weir: WeirServer, timeout: float) -> float:
    """Seconds until `weir` holds the leadership; fails after `timeout`."""
    started = time.monotonic()
    eventually(lambda: leader(ledger_url)[1] == weir.pid, timeout=timeout, interval=0.05)
    return time.monotonic() - started


def steps_and_changes(weir: WeirServer, rollout_id: str) -> tuple[list[int], list[tuple[str, str]]]:
    history = weir.history()
    steps = [
        e["event"]["stage"]
        for e in history
        if e["event"]["kind"] == "rollout_stepped" and e["event"]["rollout_id"] == rollout_id
    ]
    changes = [
        (e["event"]["instance_id"], str(e["event"]["after"]))
        for e in history
        if e["event"]["kind"] == "activation_changed" and e["event"].get("rollout_id") == rollout_id
    ]
    return steps, changes


def test_the_leader_killed_mid_canary_another_replica_leads_and_finishes_it(
    tmp_path: Path, ledger_url: str, start_envoy: StartEnvoy
) -> None:
    with ExitStack() as stack:
        # Given replica a leading, replica b following, both judging from pushed stats
        a = stack.enter_context(replica(tmp_path / "a", ledger_url, "--stats", "push"))
        leads(ledger_url, a, timeout=10)
        b = stack.enter_context(replica(tmp_path / "b", ledger_url, "--stats", "push", joining=a))
        a.service(SERVICE, slo=SLO)
        for instance_id, version in (
            ("v1-a", "v1"),
            ("v1-b", "v1"),
            ("v2-a", "v2"),
            ("v2-b", "v2"),
        ):
            upstream = stack.enter_context(Upstream(instance_id, seed=3))
            a.instance(SERVICE, instance_id, upstream.address, version=version)
        a.live("v1-a", 50)
        a.live("v1-b", 50)
        # and an Envoy bootstrapped with both controllers, connected to a (its first choice)
        listen = f"127.0.0.1:{free_port()}"
        start_envoy(bootstrap_on("proxy-1", listen, a, b))
        url = f"http://{listen}/"
        serves(url, "v1-a", "v1-b")
        eventually(lambda: [p["node_id"] for p in a.proxies()] == ["proxy-1"], timeout=10)

        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            # When a canary is at its second step and the leader is killed -9
            a.call("POST", "/v1/rollouts", CANARY)
            eventually(lambda: rollout(b)["step"] >= 2, timeout=60, interval=0.2)
            a.kill9()
            # Then b leads within 10 s, Envoy moves to b, and the canary completes
            took = leads(ledger_url, b, timeout=TAKEOVER_S)
            moved = time.monotonic()
            eventually(lambda: [p["node_id"] for p in b.proxies()] == ["proxy-1"], timeout=10)
            moved = time.monotonic() - moved + took
            status = finished(b)
        serves(url, "v2-a", "v2-b")
        # Envoy holds what b serves: the state after the rollout
        eventually(lambda: b.proxies()[0]["in_sync"], timeout=10)
        steps, changes = steps_and_changes(b, status["id"])

    print(f"b led {took:.2f} s after a was killed; Envoy was on b after {moved:.2f} s")
    assert status["state"] == "completed", status
    assert set(load.outcomes) <= {"200"}, load.outcomes  # Envoy served through the failover
    assert steps == sorted(set(steps)) == list(range(len(steps))), steps  # none repeated/skipped
    assert len(changes) == len(set(changes)), changes  # no change made twice
    entries, begins = ledger_terms(ledger_url)
    assert set(begins) == {1, 2}
    assert {term for seq, term in entries if seq >= begins[2]} <= {None, 2}
    assert fenced_writes_out_of_term(ledger_url) == []
    assert leader_writes_without_term(ledger_url) == []


def test_a_paused_leader_loses_its_term_and_its_writes_are_refused_when_it_wakes(
    tmp_path: Path, ledger_url: str
) -> None:
    # Stats are off: nothing judges, so each of the canary's steps (v2 live; v1 out, which is
    # judged too) waits for an operator's promote; once it completes, the grace of the instance
    # it replaced is only time.
    a_log = tmp_path / "a" / "weir-serve.log"
    with ExitStack() as stack:
        # Given replica a leading a completed canary into its grace, replica b following
        a = stack.enter_context(replica(tmp_path / "a", ledger_url, "--stats", "off"))
        leads(ledger_url, a, timeout=10)
        b = stack.enter_context(replica(tmp_path / "b", ledger_url, "--stats", "off", joining=a))
        a.service(SERVICE)
        for instance_id, version in (("v1-a", "v1"), ("v2-a", "v2")):
            a.instance(SERVICE, instance_id, f"127.0.0.1:{free_port()}", version=version)
        a.live("v1-a", 100)
        a.call("POST", "/v1/rollouts", {**CANARY, "steps": [100], "bake": "0s", "grace": "7s"})
        eventually(lambda: rollout(a)["stage"] == 1, timeout=10, interval=0.1)
        a.call("POST", f"/v1/rollouts/{SERVICE}/promote", {})

        def grace_started() -> bool:  # promoting each step that waits for its verdict
            if rollout(a)["grace"] is not None:
                return True
            with contextlib.suppress(Exception):  # no step waiting just now
                a.call("POST", f"/v1/rollouts/{SERVICE}/promote", {})
            return False

        eventually(grace_started, timeout=15, interval=0.2)  # grace: 7 s
        assert a.pid is not None

        # When a is paused past the end of the grace
        os.kill(a.pid, signal.SIGSTOP)
        try:
            # Then b leads within 10 s, and retires the replaced instance when the grace ends
            took = leads(ledger_url, b, timeout=TAKEOVER_S)
            eventually(lambda: retired(b, "v1-a"), timeout=15, interval=0.25)
            status = finished(b, timeout=15)
        finally:
            # When a wakes, still believing it leads a rollout whose grace is over
            os.kill(a.pid, signal.SIGCONT)
        # Then a steps down, and nothing it tried to write is in the ledger
        eventually(lambda: "term 1 over" in a_log.read_text(), timeout=10)
        assert leader(ledger_url)[1] == b.pid
        assert rollout(a)["state"] == "completed"  # a follows b now
        steps, changes = steps_and_changes(b, status["id"])
        history = b.history()

    # What a's driver did on waking depends on which of its tasks ran first: a write it tried
    # before its follower caught up is fenced (term 1 over), one after is refused by the rules
    # (the rollout has finished), and it tries none once its heartbeat failed. The fence
    # itself is pinned down in tests/ha/test_leadership.py; here, the ledger must show nothing.
    log = a_log.read_text().splitlines()
    fenced = sum("leadership lost: this replica's term 1" in line for line in log)
    conflicted = sum("refused: rollout web/1 has finished" in line for line in log)
    print(
        f"b led {took:.2f} s after a was paused; a's writes refused after waking: "
        f"{fenced} fenced, {conflicted} as conflicts"
    )
    assert status["state"] == "completed", status
    assert steps == [0, 1] and len(changes) == len(set(changes)), (steps, changes)
    retirement = [e for e in history if e["reason"].startswith("grace of rollout web/1 over")]
    assert [e["event"]["instance_id"] for e in retirement] == ["v1-a"]  # once, by b
    assert fenced_writes_out_of_term(ledger_url) == []
    assert leader_writes_without_term(ledger_url) == []
    entries, begins = ledger_terms(ledger_url)
    fenced_after = [term for seq, term in entries if seq >= begins[2] and term is not None]
    assert fenced_after and set(fenced_after) == {2}  # b's finish, in b's term
