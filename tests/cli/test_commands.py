"""What operators see: each command against a running server, for people and with --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from controlplane.model import ActivationState
from tests.cli.conftest import Server, Weir

# The service file of weir's original design, as a user may have copied it: `on:` (which YAML 1.1
# reads as true) and comments included.
CHECKOUT = """\
name: checkout
domains: [checkout, checkout.internal]   # Host/authority values routed to this service
routes:                                  # default: prefix "/" to the weighted instances
  - match: {prefix: /api}
    timeout: 2s
    retries: {attempts: 2, on: [5xx, reset]}
slo:
  success_rate: 99.9                     # percent of requests that are not 5xx, over window
  latency_p99_ms: 300
  window: 30d
risk:
  cost_per_failed_request: 0.05          # what one failed request costs the business
  value_per_request: 0.002
rollout:                                 # defaults for `weir rollout start`
  strategy: canary
  steps: [1, 5, 25, 50, 100]
  bake: 60s                              # least time at each step before the next
  auto_rollback: true
"""


def test_apply_takes_the_documented_service_file(
    server: Server, weir: Weir, tmp_path: Path
) -> None:
    service_file = tmp_path / "checkout.yaml"
    service_file.write_text(CHECKOUT)

    result = weir("apply", "-f", str(service_file))

    assert result.exit_code == 0, result.output
    assert result.stdout == "applied service checkout (ledger entry 1)\n"
    spec = server.controller.state.services["checkout"]
    retries = spec.routes[0].retries
    assert retries is not None
    assert retries.on == ("5xx", "reset")  # YAML 1.1 would have read `on` as true
    assert spec.slo.window == 30 * 86400


def test_an_instance_from_registration_to_traffic(server: Server, weir: Weir) -> None:
    weir("apply", "-f", "-", stdin="name: web\n")

    added = weir(
        "instance", "add", "web", "--id", "web-1", "--version", "1.0.3",
        "--address", "10.0.0.1:8080", "--label", "zone=a", "--label", "track=stable",
    )  # fmt: skip
    live = weir("instance", "activate", "web-1", "--live", "--weight", "5", "--reason", "first")

    assert added.exit_code == 0, added.output
    assert (
        added.stdout == "registered web-1: web 1.0.3 at 10.0.0.1:8080, inactive (ledger entry 2)\n"
    )
    assert live.stdout == "web-1: inactive → live weight 5 (ledger entry 3)\n"
    record = server.controller.state.instances["web-1"]
    assert record.state is ActivationState.LIVE
    assert record.instance.labels == {"zone": "a", "track": "stable"}


def test_instance_list_is_a_table_with_live_shares(server: Server, weir: Weir) -> None:
    _two_live_one_shadow(weir)

    result = weir("instance", "list", "web")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert cells(header) == [
        "ID", "SERVICE", "VERSION", "ADDRESS", "ACTIVATION", "SHARE", "SINCE", "LABELS",
    ]  # fmt: skip
    assert cells(rows[0]) == [
        "web-1",
        "web",
        "v1",
        "10.0.0.1:80",
        "live weight 1",
        "25%",
        "#5",
        "-",
    ]
    assert cells(rows[1])[4:6] == ["live weight 3", "75%"]
    assert cells(rows[2])[4:6] == ["shadow 10%", "-"]


def test_instance_list_json_is_the_api_answer(server: Server, weir: Weir) -> None:
    _two_live_one_shadow(weir)

    result = weir("instance", "list", "--json")

    views = json.loads(result.stdout)
    assert [v["instance"]["id"] for v in views] == ["web-1", "web-2", "web-3"]
    assert [v["live_share"] for v in views] == [0.25, 0.75, 0.0]


def test_history_shows_who_what_and_why(server: Server, weir: Weir) -> None:
    _two_live_one_shadow(weir)
    weir("instance", "activate", "web-1", "--inactive", "--reason", "drain v1")

    result = weir("history", "web")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SEQ", "TIME", "ACTOR", "SERVICE", "INSTANCE", "CHANGE", "REASON"]
    assert "service applied" in rows[0]
    assert "registered v1 at 10.0.0.1:80" in rows[1]
    assert cells(rows[-1])[0] == "8"
    assert cells(rows[-1])[2:] == [
        "operator",
        "web",
        "web-1",
        "live weight 1 → inactive",
        "drain v1",
    ]


def test_history_json_holds_every_entry(server: Server, weir: Weir) -> None:
    _two_live_one_shadow(weir)

    entries = json.loads(weir("history", "--json").stdout)

    assert [e["seq"] for e in entries] == list(range(1, 8))
    assert entries[-1]["event"]["after"] == {
        "state": "shadow",
        "weight": None,
        "mirror_percent": 10.0,
    }


def test_empty_answers_read_as_sentences(server: Server, weir: Weir) -> None:
    assert weir("history").stdout == "the ledger is empty\n"
    assert weir("instance", "list").stdout == "no instances\n"
    assert weir("proxies").stdout == "no proxies connected\n"
    assert weir("proxies", "--json").stdout == "[]\n"


def test_retire_after_deactivation(server: Server, weir: Weir) -> None:
    _two_live_one_shadow(weir)

    result = weir("instance", "retire", "web-3", "--reason", "done", "--json")

    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert entry["event"]["after"]["state"] == "retired"
    assert entry["reason"] == "done"


def test_server_given_after_the_command_wins(server: Server, weir: Weir) -> None:
    result = weir("history", "--server", "http://127.0.0.1:1")

    assert result.exit_code == 3
    assert "http://127.0.0.1:1" in result.stderr


def cells(line: str) -> list[str]:
    """A table row's cells: columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


def _two_live_one_shadow(weir: Weir) -> None:
    """web-1 live 1, web-2 live 3, web-3 shadow 10%: seven ledger entries."""
    weir("apply", "-f", "-", stdin="name: web\n")
    for n in (1, 2, 3):
        args = ("--id", f"web-{n}", "--version", f"v{n}", "--address", f"10.0.0.{n}:80")
        assert weir("instance", "add", "web", *args).exit_code == 0
    assert weir("instance", "activate", "web-1", "--live").exit_code == 0
    assert weir("instance", "activate", "web-2", "--live", "--weight", "3").exit_code == 0
    shadow = weir("instance", "activate", "web-3", "--shadow", "--mirror-percent", "10")
    assert shadow.exit_code == 0


MESH_FILE = """\
name: cart
callers: [web]
instances:
  - {id: cart-1, version: v1, address: 10.0.1.1:8080, activation: {state: live, weight: 2}}
  - {id: cart-2, version: v1, address: 10.0.1.2:8080}
---
name: pay
instances:
  - {id: pay-1, version: v3, address: 10.0.2.1:8080, activation: {state: live}}
---
instances:    # of services applied before: each names its own
  - {id: cart-3, service: cart, version: v2, address: 10.0.1.3:8080}
"""


def test_apply_takes_services_and_instances_in_one_transaction(
    server: Server, weir: Weir, tmp_path: Path
) -> None:
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(MESH_FILE)

    result = weir("apply", "-f", str(mesh_file), "--reason", "sync from consul")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "applied 2 services (0 unchanged), registered 4 instances (0 unchanged; 2 started live "
        "or in shadow): ledger entries 1-8\n"
    )
    state = server.controller.state
    assert state.services["cart"].callers == ("web",)
    assert [(i.instance.id, i.activation.describe()) for i in state.instances_of("cart")] == [
        ("cart-1", "live weight 2"),
        ("cart-2", "inactive"),
        ("cart-3", "inactive"),
    ]
    assert {e.reason for e in server.controller.history()} == {"sync from consul"}

    again = weir("apply", "-f", str(mesh_file))
    assert again.stdout == (
        "applied 0 services (2 unchanged), registered 0 instances (4 unchanged; 0 started live "
        "or in shadow): nothing new in the ledger\n"
    )
