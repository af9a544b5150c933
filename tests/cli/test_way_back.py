"""A way back and sideways, as an operator types it against a running server: undo a completed
rollout, list past rollouts, delete a service, see what `apply` would change, and read any of
it as JSON or YAML."""

from __future__ import annotations

import json

import pytest
import yaml

from controlplane.model import ActivationState, RolloutOutcome
from tests.cli.conftest import Server, Weir, two_versions
from tests.cli.test_rollouts import step
from tests.rollout._world import judge

SERVICE = """\
name: web
rollout:
  steps: [10, 100]
  bake: 0s
  grace: 5m
"""


@pytest.fixture
def web(server: Server, weir: Weir) -> Server:
    """web: a (v1) live at weight 100, c (v2) registered and inactive."""
    two_versions(weir, SERVICE, weight=100)
    return server


def complete(server: Server) -> None:
    """Drive the rollout of web to its end, passing every verdict."""
    for _ in range(10):
        if server.controller.state.active_rollout("web") is None:
            return
        step(server.controller)
        judge(server.controller)
    raise AssertionError("the rollout did not complete")


def test_undo_after_a_completed_rollout_returns_to_v1(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")
    complete(web)
    status = weir("rollout", "status", "web").stdout
    assert "— completed, step 2 of 2 (100%)" in status  # steps as asked: 10, 100
    assert "grace: a kept warm until " in status
    assert "`weir rollout undo web` returns to them" in status

    result = weir("rollout", "undo", "web", "--reason", "errors in checkout")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "undid rollout web/1: a → live weight 100, c → inactive (ledger entries "
    )
    state = web.controller.state
    assert [i.instance.id for i in state.live_of("web")] == ["a"]
    assert state.rollouts["web/1"].undone_seq is not None
    assert web.controller.history()[-3].actor == "operator"


def test_undo_once_the_grace_is_over_gives_the_commands_to_go_back(
    server: Server, weir: Weir
) -> None:
    weir("apply", "-f", "-", stdin=SERVICE.replace("grace: 5m", "grace: 0s"))
    weir("instance", "add", "web", "--id", "a", "--version", "v1", "--address", "10.0.0.1:80",
         "--label", "zone=b")  # fmt: skip
    weir("instance", "add", "web", "--id", "c", "--version", "v2", "--address", "10.0.0.2:80")
    weir("instance", "activate", "a", "--live", "--weight", "100")
    weir("rollout", "start", "web", "--version", "v2")
    complete(server)
    length = server.ledger_length()

    result = weir("rollout", "undo", "web")

    assert result.exit_code == 1
    assert "a is retired (retired is final)" in result.stderr
    assert "weir instance add web --id a-2 --version v1 --address 10.0.0.1:80 --label zone=b" in (
        result.stderr
    )
    assert "weir rollout start web --version v1" in result.stderr
    assert server.ledger_length() == length


def test_rollout_list_shows_each_rollout_and_how_it_ended(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")
    step(web.controller)
    weir("rollout", "abort", "web", "--reason", "not today")
    weir("rollout", "start", "web", "--version", "v2")
    complete(web)

    result = weir("rollout", "list", "web")

    assert result.exit_code == 0, result.output
    header, newest, oldest, *notes = result.stdout.splitlines()
    assert header.split() == [
        "ROLLOUT", "VERSION", "STRATEGY", "STEPS", "OUTCOME", "STARTED", "BY", "ENDED", "BY",
    ]  # fmt: skip
    assert newest.split()[:7] == ["web/2", "v2", "canary", "2/2", "completed,", "undo", "possible"]
    assert oldest.split()[:5] == ["web/1", "v2", "canary", "1/2", "aborted"]
    assert oldest.split()[-1] == "operator"
    assert notes == ["web/1: rollout web/1 aborted: aborted by operator: not today"]
    listed = json.loads(weir("rollout", "list", "-o", "json").stdout)
    assert [(r["id"], r["state"]) for r in listed] == [("web/2", "completed"), ("web/1", "aborted")]


def test_service_delete_is_refused_while_live_then_retires_the_rest(
    web: Server, weir: Weir
) -> None:
    refused = weir("service", "delete", "web")
    assert refused.exit_code == 1
    assert "service 'web' has live instances (a): take them out of traffic first" in (
        refused.stderr
    )

    weir("instance", "activate", "a", "--inactive", "--force")
    result = weir("service", "delete", "web", "--reason", "moved to web2")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("deleted service web; retired a, c (ledger entries ")
    state = web.controller.state
    assert "web" not in state.services
    assert {i.instance.id: i.state for i in state.instances_of("web")} == {
        "a": ActivationState.RETIRED,
        "c": ActivationState.RETIRED,
    }
    assert "service web deleted" in weir("history", "web").stdout
    again = weir("instance", "add", "web", "--id", "a", "--version", "v1",
                 "--address", "10.0.0.1:80")  # fmt: skip
    assert again.exit_code == 1 and "unknown service 'web'" in again.stderr


def test_apply_dry_run_prints_the_diff_and_changes_nothing(web: Server, weir: Weir) -> None:
    length = web.ledger_length()
    changed = SERVICE.replace("steps: [10, 100]", "steps: [20, 100]") + "slo: {success_rate: 99}\n"

    result = weir("apply", "--dry-run", "-f", "-", stdin=changed)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "service web: would change (dry run, nothing applied)"
    assert "-  success_rate: 99.9" in lines
    assert "+  success_rate: 99.0" in lines
    assert "  - 10.0" in [line[1:] for line in lines if line.startswith("-")]
    assert web.ledger_length() == length
    same = weir("apply", "--dry-run", "-f", "-", stdin=SERVICE)
    assert same.stdout == "service web: unchanged (nothing to apply)\n"
    clash = weir("apply", "--dry-run", "-f", "-", stdin="name: other\ndomains: [web]\n")
    assert clash.exit_code == 1 and "domain 'web' already routes to service 'web'" in clash.stderr


def test_read_commands_speak_json_and_yaml(web: Server, weir: Weir) -> None:
    as_json = json.loads(weir("instance", "list", "-o", "json").stdout)
    as_yaml = yaml.safe_load(weir("instance", "list", "-o", "yaml").stdout)
    legacy = json.loads(weir("instance", "list", "--json").stdout)

    assert as_json == as_yaml == legacy
    assert yaml.safe_load(weir("service", "show", "web").stdout)["rollout"]["grace"] == "5m"
    both = weir("instance", "list", "--json", "-o", "yaml")
    assert both.exit_code == 2 and "choose one" in both.stderr


def test_global_options_go_anywhere_on_the_line(web: Server, weir: Weir) -> None:
    after = weir("instance", "list", "--server", web.url, "--token", "operator-secret-wrong")
    assert after.exit_code == 1 and "unknown or revoked" in after.stderr  # --token after it

    wrong = weir("--server", "http://127.0.0.1:1", "instance", "list", "--server", web.url)
    assert wrong.exit_code == 0, wrong.output  # the last --server on the line wins


def test_a_rolled_back_rollout_cannot_be_undone(web: Server, weir: Weir) -> None:
    weir("rollout", "start", "web", "--version", "v2")
    step(web.controller)
    weir("rollout", "abort", "web")

    result = weir("rollout", "undo", "web")

    assert result.exit_code == 1
    assert "was aborted: it left the service as it found it" in result.stderr
    assert web.controller.state.rollouts["web/1"].outcome is RolloutOutcome.ABORTED
