"""`weir loadtest` refusals: each one line, before any load is sent."""

from __future__ import annotations

import json

import httpx

from tests.cli._run import invoke
from tests.support import free_port


def api(*instances: tuple[str, str]) -> httpx.MockTransport:
    """A weir API whose service `web` has these (id, state) instances."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok", "ledger_seq": 7})
        assert request.url.path == "/v1/instances"
        assert request.url.params["service"] == "web"
        body = [
            {
                "instance": {"id": i, "service": "web", "version": "v1", "address": "x:1"},
                "activation": {"state": state, "weight": 1 if state == "live" else None},
                "since_seq": 1,
                "live_share": 1.0 if state == "live" else 0.0,
            }
            for i, state in instances
        ]
        return httpx.Response(200, content=json.dumps(body))

    return httpx.MockTransport(answer)


def test_a_service_without_a_live_instance_is_refused() -> None:
    result = invoke(
        "loadtest", "web", "--rps", "10", "--duration", "1s", transport=api(("c", "shadow"))
    )

    assert result.exit_code == 1
    assert "weir: service 'web' has no live instance to send load to" in result.output


def test_an_admin_that_does_not_answer_is_named_before_any_load() -> None:
    admin = f"127.0.0.1:{free_port()}"
    result = invoke(
        "loadtest", "web", "--rps", "10", "--duration", "1s", "--admin", admin,
        transport=api(("a", "live")),
    )  # fmt: skip

    assert result.exit_code == 3
    assert f"cannot read the proxy's admin at http://{admin}" in result.output


def test_bad_numbers_are_usage_errors() -> None:
    for args, message in [
        (("--rps", "0", "--duration", "1s"), "--rps"),
        (("--rps", "10", "--duration", "soon"), "is not a duration"),
        (("--rps", "100000", "--duration", "1h"), "one run sends at most 1,000,000"),
        (("--rps", "1", "--duration", "1s", "--through", "nowhere"), "--through"),
    ]:
        result = invoke("loadtest", "web", *args)
        assert result.exit_code == 2, result.output
        assert message in result.output


def test_headers_must_be_name_value_pairs() -> None:
    for header, message in [
        ("x-tenant", "is not NAME:VALUE"),
        ("bad name:1", "not a header name"),
        ("x-weir-loadtest:mine", "weir loadtest sets it itself"),
        ("x-a:b\x01c", "a control character"),
    ]:
        result = invoke("loadtest", "web", "--rps", "1", "--duration", "1s", "--header", header)
        assert result.exit_code == 2, result.output
        assert message in result.output
