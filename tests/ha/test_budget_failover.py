"""The error budget across a change of leader: replicas on one PostgreSQL ledger, the leader
killed -9; the replica that leads next shows the budget its predecessor had, to within a
bucket, and counts on. Real processes, a real Envoy bootstrapped with both replicas."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from tests.conftest import StartEnvoy
from tests.ha._replicas import bootstrap_on, leader, replica
from tests.integration._budget import settled
from tests.integration._mesh import serves
from tests.integration.test_budget_durable import mesh, same_figures, traffic
from tests.support import eventually, free_port


def test_a_new_leader_has_the_budget_its_predecessor_had(
    tmp_path: Path, ledger_url: str, start_envoy: StartEnvoy
) -> None:
    with ExitStack() as stack:
        # Given replica a leading, b following, an Envoy pushing to a, a budget burning
        a = stack.enter_context(replica(tmp_path / "a", ledger_url, "--stats", "push"))
        eventually(lambda: leader(ledger_url)[1] == a.pid, timeout=10)
        b = stack.enter_context(replica(tmp_path / "b", ledger_url, "--stats", "push", joining=a))
        mesh(a, stack)
        listen = f"127.0.0.1:{free_port()}"
        start_envoy(bootstrap_on("proxy-1", listen, a, b))
        url = f"http://{listen}/"
        serves(url, "a", "flaky")
        base = settled(a)
        first = traffic(url, 8)
        before = settled(a)
        assert before["requests"] - base["requests"] == first.total
        assert before["errors"] - base["errors"] == first.outcomes["500"] > 0

        # When the leader is killed -9 and b takes over
        a.kill9()
        eventually(lambda: leader(ledger_url)[1] == b.pid, timeout=10, interval=0.05)
        eventually(lambda: [p["node_id"] for p in b.proxies()] == ["proxy-1"], timeout=10)

        # Then b's budget is a's, to within a bucket
        after = settled(b)
        print(f"\\nleader a: {before['requests']:.0f} requests, {before['errors']:.0f} failed; "
              f"then b: {after['requests']:.0f}, {after['errors']:.0f}")  # fmt: skip
        same_figures(before, after)

        # and b counts on from there
        more = traffic(url, 4)
        assert settled(b)["requests"] - after["requests"] == more.total
