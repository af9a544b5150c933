"""Bad input through the CLI: a non-zero exit, `weir: <message>` naming the problem on stderr,
and nothing written to the ledger. All over a real socket to a running API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.model import ActivationChanged
from tests.cli.conftest import Server, Weir

ADD = ("instance", "add")
ADD_WEB_3 = (*ADD, "web", "--id", "web-3", "--version", "v3", "--address", "10.0.0.3:80")


@pytest.fixture
def web(server: Server, weir: Weir) -> Server:
    """Service `web` with web-1 live at weight 1 and web-2 inactive."""
    steps = [
        ("apply", "-f", "-"),
        (*ADD, "web", "--id", "web-1", "--version", "v1", "--address", "10.0.0.1:80"),
        (*ADD, "web", "--id", "web-2", "--version", "v2", "--address", "10.0.0.2:80"),
        ("instance", "activate", "web-1", "--live"),
    ]
    for args in steps:
        result = weir(*args, stdin="name: web\n")
        assert result.exit_code == 0, result.output
    return server


REFUSED = {
    "id-not-dns-label": (
        (*ADD, "web", "--id", "Web_3", "--version", "v3", "--address", "10.0.0.3:80"),
        "id: 'Web_3' is not DNS-label style",
    ),
    "unknown-service": (
        (*ADD, "nope", "--id", "web-3", "--version", "v3", "--address", "10.0.0.3:80"),
        "unknown service 'nope'",
    ),
    "duplicate-id": (
        (*ADD, "web", "--id", "web-2", "--version", "v3", "--address", "10.0.0.3:80"),
        "instance id 'web-2' is already taken",
    ),
    "address-not-host-port": (
        (*ADD, "web", "--id", "web-3", "--version", "v3", "--address", "10.0.0.3"),
        "address: '10.0.0.3' is not host:port",
    ),
    "unknown-instance": (
        ("instance", "activate", "ghost", "--live"),
        "unknown instance 'ghost'",
    ),
    "unknown-instance-retired": (
        ("instance", "retire", "ghost"),
        "unknown instance 'ghost'",
    ),
    "negative-weight": (
        ("instance", "activate", "web-2", "--live", "--weight", "-1"),
        "weight: Input should be greater than or equal to 0",
    ),
    "mirror-over-100": (
        ("instance", "activate", "web-2", "--shadow", "--mirror-percent", "140"),
        "mirror_percent: Input should be less than or equal to 100",
    ),
    "mirror-below-0": (
        ("instance", "activate", "web-2", "--shadow", "--mirror-percent", "-0.5"),
        "mirror_percent: Input should be greater than or equal to 0",
    ),
    "zero-total-weight": (
        ("instance", "activate", "web-1", "--live", "--weight", "0"),
        "service 'web' would have live instances with a total weight of 0",
    ),
    "last-live-instance-without-force": (
        ("instance", "activate", "web-1", "--inactive"),
        "last live instance of service 'web'",
    ),
    "retire-a-live-instance": (
        ("instance", "retire", "web-1"),
        "instance 'web-1' is live; deactivate it first",
    ),
}


@pytest.mark.parametrize(
    ("args", "message"), [pytest.param(*case, id=name) for name, case in REFUSED.items()]
)
def test_refused_input_exits_1_and_leaves_the_ledger_alone(
    web: Server, weir: Weir, args: tuple[str, ...], message: str
) -> None:
    before = web.ledger_length()

    result = weir(*args)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("weir: ")
    assert message in result.stderr
    assert result.stdout == ""
    assert web.ledger_length() == before


SERVICE_FILES = {
    "slo-over-100": (
        "name: web\nslo:\n  success_rate: 140\n",
        "slo.success_rate: Input should be less than 100",
    ),
    "unknown-field": ("name: web\ncolour: red\n", "colour: Extra inputs are not permitted"),
    "unknown-nested-field": (
        "name: web\nrollout:\n  stratgy: canary\n",
        "rollout.stratgy: Extra inputs are not permitted",
    ),
    "no-name": ("domains: [web]\n", "name: the service needs a name"),
    "not-a-mapping": ("- name: web\n", "a service file is a mapping"),
    "two-documents-one-unnamed": ("name: web\n---\ndomains: [a]\n", "document 2: name:"),
    "a-bad-instance": (
        "name: web\ninstances:\n  - {id: web-9, version: v1, address: nowhere}\n",
        "document 1, instances[0]: address",
    ),
    "yaml-syntax-error": ("name: web\nslo:\n  success_rate: [99.9\n", "line 4, column 1"),
    "objective-unknown-field": (
        "name: web\nobjectives:\n  - {name: orders, kind: ratio, source: {header: order}, x: 1}\n",
        "objectives.0.x: Extra inputs are not permitted",
    ),
    "objective-bad-kind": (
        "name: web\nobjectives:\n  - {name: orders, kind: median, source: {header: order}}\n",
        "objectives.0.kind: Input should be 'ratio' or 'mean'",
    ),
    "objective-no-placeholder": (
        "name: web\nobjectives:\n  - {name: o, kind: ratio, source: {promql: 'sum(o)'}}\n",
        "must contain {instance}",
    ),
    "cohort-both": (
        "name: web\ncohort: {header: x-user, cookie: s}\n",
        "cohort: give exactly one of header or cookie",
    ),
}


@pytest.mark.parametrize(
    ("text", "message"), [pytest.param(*case, id=name) for name, case in SERVICE_FILES.items()]
)
def test_a_bad_service_file_changes_nothing(
    web: Server, weir: Weir, tmp_path: Path, text: str, message: str
) -> None:
    service_file = tmp_path / "web.yaml"
    service_file.write_text(text)
    before = web.ledger_length()

    result = weir("apply", "-f", str(service_file))

    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert web.ledger_length() == before


def test_a_yaml_error_names_the_file_and_line(web: Server, weir: Weir, tmp_path: Path) -> None:
    service_file = tmp_path / "web.yaml"
    service_file.write_text("name: web\nslo: {success_rate: 99\n  latency_p99_ms: : 3\n")

    result = weir("apply", "-f", str(service_file))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"weir: {service_file}: line 3, column ")


def test_force_takes_the_last_live_instance_out_and_says_so(web: Server, weir: Weir) -> None:
    result = weir("instance", "activate", "web-1", "--inactive", "--force", "--reason", "INC-7")

    assert result.exit_code == 0, result.output
    assert "web-1: live weight 1 → inactive" in result.stdout
    assert "forced" in result.stdout
    last = web.controller.history()[-1]
    assert isinstance(last.event, ActivationChanged)
    assert last.event.forced is True
    assert last.reason == "INC-7"


USAGE = {
    "no-state": (("instance", "activate", "web-2"), "choose exactly one of --live"),
    "two-states": (("instance", "activate", "web-2", "--live", "--shadow"), "exactly one"),
    "weight-without-live": (
        ("instance", "activate", "web-2", "--shadow", "--weight", "2"),
        "--weight goes with --live",
    ),
    "weight-not-a-number": (
        ("instance", "activate", "web-2", "--live", "--weight", "many"),
        "'many' is not a valid integer",
    ),
    "label-without-equals": ((*ADD_WEB_3, "--label", "zone"), "'zone' is not KEY=VALUE"),
    "missing-option": ((*ADD, "web", "--id", "web-3"), "Missing option '--version'"),
    "unknown-command": (("deploy",), "No such command 'deploy'"),
}


@pytest.mark.parametrize(
    ("args", "message"), [pytest.param(*case, id=name) for name, case in USAGE.items()]
)
def test_a_wrong_command_line_exits_2_before_asking_the_server(
    web: Server, weir: Weir, args: tuple[str, ...], message: str
) -> None:
    before = web.ledger_length()

    result = weir(*args)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("weir: ")
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert web.ledger_length() == before
