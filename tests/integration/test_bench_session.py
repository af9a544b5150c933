"""bench.session: a README-length session through a real Envoy, every failed request attributed.
The run here is small (one cycle at 100 rps); the 10-minute run is `python -m bench.session`."""

from __future__ import annotations

import json

from bench._attribution import ClientFailure, Event, attribute, read_access_log
from bench.session import run_session

BAD = frozenset({"checkout--b2-a"})


def log_line(path: str, status: int, cluster: str, flags: str = "-", details: str = "") -> str:
    return json.dumps({
        "start": "2026-12-06T05:00:00.000Z", "path": path, "status": status, "flags": flags,
        "details": details or ("via_upstream" if flags in ("-", "URX") else "x"),
        "cluster": cluster, "upstream": "127.0.0.1:1", "attempts": 1,
    })  # fmt: skip


def test_the_failing_instances_own_answers_are_expected_and_every_other_failure_a_defect() -> None:
    logged = read_access_log(
        [
            log_line("/r/1", 500, "checkout--b2-a"),
            log_line("/api/r/2", 500, "checkout--b2-a", flags="URX"),
            log_line("/r/3", 503, "checkout--v1-a", flags="UH", details="no_healthy_upstream"),
            log_line("/r/4", 500, "checkout--v1-b"),  # a healthy instance failing: a defect
            log_line("/r/5", 503, "checkout--b2-a", flags="UC", details="upstream_reset"),
            "not json",
        ]
    )
    failures = [
        ClientFailure("/r/1", 10.0, "500"),
        ClientFailure("/api/r/2", 11.0, "500"),
        ClientFailure("/r/3", 12.0, "503", "no healthy upstream"),
        ClientFailure("/r/4", 13.0, "500"),
        ClientFailure("/r/5", 14.0, "503"),
        ClientFailure("/r/6", 15.0, "ConnectError", "refused"),  # Envoy never saw it
    ]
    events = [Event(11.5, "weir instance retire v1-a")]

    attribution = attribute(failures, logged, BAD, events)

    assert attribution.expected == 2
    assert attribution.unexplained == 4
    causes = {c.why: c for c in attribution.causes}
    assert causes["500 from the failing test instance"].count == 1
    assert causes["500 from the failing test instance after retries (URX)"].count == 1
    assert any("never logged by Envoy" in why for why in causes)
    [no_upstream] = [c for c in attribution.causes if "no_healthy_upstream" in c.why]
    assert "0.50s after `weir instance retire v1-a`" in no_upstream.examples[0]


def test_a_short_session_runs_every_step_and_explains_every_failure() -> None:
    said: list[str] = []

    result = run_session(0.25, 100, say=said.append)

    commands = "\n".join(said)
    for step in (
        "weir apply -f",
        "weir instance add checkout --id v2-a",
        "weir instance activate v2-a --shadow --mirror-percent 50",
        "weir rollout start checkout --version v2 --steps 20,50,100",
        "weir rollout promote checkout",
        "weir rollout start checkout --version b2",
        "weir instance retire b2-a",
    ):
        assert step in commands, commands
    assert "rollout of v2: completed" in commands and "rollout of b2: rolled back" in commands
    assert result.sent > 1000
    print("\n".join(result.lines))
    assert result.attribution.unexplained == 0, "\n".join(result.lines)
    assert result.attribution.expected > 0  # the failing canary was reached, and seen
