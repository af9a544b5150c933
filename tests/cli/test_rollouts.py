"""`weir rollout …` against a running server; the test plays the driver and the evaluator."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import Any

import httpx
import pytest

from controlplane.control import Controller
from controlplane.model import Outcome
from controlplane.rollout import RolloutDriver
from tests.cli._run import invoke
from tests.cli.conftest import Server, Weir, two_versions
from tests.rollout._world import judge
from tests.support import eventually, secret_of

SERVICE = """\
name: web
rollout:
  steps: [10, 50, 100]
  bake: 0s
  grace: 0s
"""


@pytest.fixture
def web(server: Server, weir: Weir) -> Server:
    """web: a (v1) live at weight 9, c (v2) registered and inactive."""
    two_versions(weir, SERVICE, weight=9)
    return server


def step(c: Controller) -> None:
    """One tick of the rollout driver that `weir serve` runs."""
    asyncio.run(RolloutDriver(c).step())


def test_start_says_what_will_happen_and_how_to_follow_it(web: Server, weir: Weir) -> None:
    result = weir("rollout", "start", "web", "--version", "v2", "--bake", "30s")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "started rollout web/1: canary (steps 10%, 50%, 100%; bake 30s; decide within 10m; "
        "grace 0ms) of web to v2 (ledger entry 5)\n"
        "time to a decision: not forecast (too little traffic seen lately to go by)\n"
        "follow it with: weir rollout status web --watch\n"
    )


def test_status_reads_as_a_progress_display(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2", "--steps", "50,100", "--bake", "10m")
    step(web.controller)
    judge(web.controller)

    result = weir("rollout", "status", "web")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "rollout web/1: canary of web to v2 — running, step 1 of 2 (50%)"
    assert lines[1] == f"[{'#' * 15}{'.' * 15}] 50% of live traffic on v2"
    assert lines[2].split() == [
        "INSTANCE",
        "VERSION",
        "ROLE",
        "ACTIVATION",
        "SHARE",
        "REQUESTS",
        "ERRORS",
        "P99",
    ]
    assert lines[3].split() == ["a", "v1", "old", "live", "weight", "9", "50%", "-", "-", "-"]
    assert lines[4].split()[:7] == ["c", "v2", "new", "live", "weight", "9", "50%"]
    assert lines[5] == "verdict on #7 (c): pass: pass by the test"
    assert lines[6].startswith("next: holding step 1 (50%) until ") and lines[6].endswith(")")
    assert lines[7] == "steps:"
    assert lines[8].endswith("50%: c inactive → live weight 9 [pass]")


def test_status_json_is_the_api_answer(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2", "--bake", "10m")

    def api_view() -> dict[str, Any]:
        answer = httpx.get(
            f"{web.url}/v1/rollouts/web",
            headers={"Authorization": f"Bearer {secret_of('operator')}"},
        )
        view: dict[str, Any] = answer.json()
        return view

    # The server's driver takes the first step on its own tick and its evaluator judges it
    # inconclusive (no proxy reports stats); after both the rollout holds (a long bake), so
    # the CLI and the API read the same state.
    eventually(lambda: [v["verdict"] for v in api_view().get("verdicts", [])] == ["inconclusive"])

    result = weir("rollout", "status", "web", "--json")

    data = json.loads(result.stdout)
    assert (data["id"], data["state"], data["step"]) == ("web/1", "running", 1)
    answer = api_view()

    def settled(view: dict[str, object]) -> dict[str, object]:
        return {**view, "next": {**view["next"], "in_s": None}}  # type: ignore[dict-item]

    assert settled(data) == settled(answer)  # but for the seconds still to wait


class _FirstAnswer(httpx.HTTPTransport):
    """The network, noting when the CLI has had its first answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answered = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.answered.set()
        return response


def test_watch_redraws_until_the_rollout_completes(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")
    network = _FirstAnswer()

    def drive() -> None:
        network.answered.wait(timeout=30)  # the first frame shows the rollout as it started
        for _ in range(20):
            time.sleep(0.05)
            if web.controller.state.active_rollout("web") is None:
                return
            step(web.controller)
            judge(web.controller)

    driver = threading.Thread(target=drive)
    driver.start()
    env = {"WEIR_SERVER": web.url, "WEIR_TOKEN": secret_of("operator")}
    result = invoke(
        "rollout", "status", "web", "--watch", "--interval", "0.02", env=env, transport=network
    )
    driver.join()

    assert result.exit_code == 0, result.output
    frames = result.stdout.split("\n\n")
    # (the server's own rollout driver may take the first step before the watch first reads)
    assert re.search(r"— running, step [01] of 3", frames[0]), frames[0]
    shown = [int(m) for m in re.findall(r"— \w+, step (\d) of 3", result.stdout)]
    assert shown == sorted(shown) and shown[-1] == 3, shown
    assert "— completed, step 3 of 3 (100%)\n  now: 100%: a out" in result.stdout
    assert f"[{'#' * 30}] 100% of live traffic on v2" in result.stdout


def test_watch_of_a_rolled_back_rollout_exits_1(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")
    step(web.controller)
    judge(web.controller, Outcome.FAIL)
    step(web.controller)

    result = weir("rollout", "status", "web", "--watch")

    assert result.exit_code == 1
    assert "— rolled back, step 1 of 3 (10%)" in result.stdout
    assert result.stderr == "weir: rollout web/1 rolled back\n"


def test_watch_is_bounded(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")

    result = weir("rollout", "status", "web", "--watch", "--timeout", "50ms", "--interval", "0.01")

    assert result.exit_code == 1
    assert "weir: rollout web/1 is still running after 50ms" in result.stderr


def test_pause_resume_promote_and_abort(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2", "--bake", "1h")
    step(web.controller)

    outputs = [
        weir("rollout", action, "web", "--reason", "test").stdout
        for action in ("pause", "resume", "promote", "abort")
    ]

    assert outputs == [
        "paused rollout web/1 (ledger entry 8)\n",
        "resumed rollout web/1 (ledger entry 9)\n",
        "promoted step 1 of rollout web/1 (ledger entry 10)\n",
        "aborted rollout web/1: c back to inactive (ledger entries 11-12)\n",
    ]
    assert web.controller.history()[-2].actor == "operator"


def test_history_shows_the_rollouts_steps_and_changes(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")
    step(web.controller)

    result = weir("history", "web")

    assert result.exit_code == 0, result.output
    assert "rollout web/1 started: canary to v2" in result.stdout
    assert "rollout web/1 step 1: 10%" in result.stdout
    assert "inactive → live weight 1 [rollout web/1]" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--version", "v9"), 1, "weir: unknown version 'v9'"),
        (("--version", "v2", "--steps", "ten,100"), 2, "is not a list of percentages"),
        (("--version", "v2", "--steps", "50,10,100"), 1, "weir: steps: steps must rise strictly"),
        (("--version", "v2", "--bake", "soon"), 2, "'soon' is not a duration"),
        (
            ("--version", "v2", "--mirror-percent", "5"),
            1,
            "mirror_percent does not apply to a canary",
        ),
    ],
)
def test_a_refused_start_exits_non_zero_and_records_nothing(
    web: Server, weir: Weir, args: tuple[str, ...], code: int, words: str
) -> None:
    length = web.ledger_length()

    result = weir("rollout", "start", "web", *args)

    assert result.exit_code == code, result.output
    assert words in result.stderr
    assert web.ledger_length() == length


def test_the_forecast_of_each_step_is_printed_as_recorded() -> None:
    from controlplane.cli._rollouts import forecast_lines

    event = {
        "plan": {"decide_within": "10m"},
        "forecast": [
            {"stage": 0, "label": "1%", "share": 0.01, "seconds": 3000.0, "within": False},
            {"stage": 1, "label": "25%", "share": 0.25, "seconds": 240.0, "within": True},
            {"stage": 2, "label": "100%: a out", "share": 1.0, "seconds": None, "within": False},
        ],
    }
    assert forecast_lines(event) == [
        "time to a decision at the current traffic (each step may take 10m):",
        "  step 1 (1%, 1% of traffic): about 50 min to pass if as good as the old version"
        "  (over; the plan accepts the risk)",
        "  step 2 (25%, 25% of traffic): about 4 min to pass if as good as the old version",
        "  step 3 (100%: a out, 100% of traffic): no pass in sight at this traffic if as good as "
        "the old version  (over; the plan accepts the risk)",
    ]


def test_the_default_steps_left_out_are_named_with_their_forecasts() -> None:
    from controlplane.cli._rollouts import forecast_lines

    event = {
        "plan": {"decide_within": "10m", "steps": [25, 50, 100]},
        "forecast": [
            {"stage": 1, "label": "25%", "share": 0.25, "seconds": 240.0, "within": True},
        ],
        "left_out": [
            {"stage": 1, "label": "1%", "share": 0.01, "seconds": 3000.0, "within": False},
            {"stage": 2, "label": "5%", "share": 0.05, "seconds": 666.0, "within": False},
        ],
    }
    assert forecast_lines(event)[-1] == (
        "the default steps start at 25%: at this traffic 1% about 50 min and 5% about 11 min "
        "to pass, more than half of the 10m a step may take (name the steps with --steps to "
        "keep them)"
    )
