"""`weir instance …` during a rollout, against a running server (whose own driver steps): a
change to an instance the rollout moves is refused naming the rollout; --force pauses it."""

from __future__ import annotations

import pytest

from controlplane.model import Activation, RolloutPaused
from tests.cli.conftest import Server, Weir
from tests.support import eventually

SERVICE = """\
name: web
rollout:
  steps: [10, 50, 100]
  bake: 1h
  grace: 0s
"""


@pytest.fixture
def canary(server: Server, weir: Weir) -> Server:
    """web mid-canary, held by its bake: a (v1) live at weight 9, c (v2) live at weight 1."""
    for args in [
        ("apply", "-f", "-"),
        ("instance", "add", "web", "--id", "a", "--version", "v1", "--address", "10.0.0.1:80"),
        ("instance", "add", "web", "--id", "c", "--version", "v2", "--address", "10.0.0.2:80"),
        ("instance", "activate", "a", "--live", "--weight", "9"),
        ("rollout", "start", "web", "--version", "v2"),
    ]:
        result = weir(*args, stdin=SERVICE)
        assert result.exit_code == 0, result.output

    def stepped() -> None:  # the server's driver takes step 1 on its own tick
        assert server.controller.state.instances["c"].activation == Activation.live(1)

    eventually(stepped, timeout=10)
    return server


def test_a_change_to_an_instance_the_rollout_moves_is_refused(canary: Server, weir: Weir) -> None:
    before = canary.ledger_length()

    result = weir("instance", "activate", "c", "--live", "--weight", "5")

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "weir: instance 'c' is controlled by rollout web/1 (canary of web to v2), at step 1 "
        "(10%); pause it (weir rollout pause web) or abort it first, or repeat with --force, "
        "which pauses it in the same ledger batch as this change\n"
    )
    assert canary.ledger_length() == before


def test_retire_of_a_replaced_instance_is_refused_too(canary: Server, weir: Weir) -> None:
    result = weir("instance", "retire", "a")

    assert result.exit_code == 1
    # a is live, which refuses a retirement on its own; deactivating it is the rollout's
    assert "instance 'a' is live; deactivate it first" in result.stderr
    result = weir("instance", "activate", "a", "--inactive")
    assert result.exit_code == 1
    assert "controlled by rollout web/1" in result.stderr


def test_force_makes_the_change_and_says_the_rollout_is_paused(canary: Server, weir: Weir) -> None:
    before = canary.ledger_length()

    result = weir("instance", "activate", "c", "--live", "--weight", "5", "--force")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"c: live weight 1 → live weight 5 (ledger entry {before + 2}, forced)\n"
        f"rollout web/1 paused (ledger entry {before + 1}): it holds until `weir rollout resume "
        "web` (its next step may change c again) or `weir rollout abort web` (rolls it back)\n"
    )
    paused = canary.controller.history()[before]
    assert isinstance(paused.event, RolloutPaused) and paused.actor == "operator"
    status = weir("rollout", "status", "web")
    assert "paused" in status.stdout.splitlines()[0]
