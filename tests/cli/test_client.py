"""The CLI's HTTP edge through its injectable transport: what it sends, how it reports what
comes back, and what an operator reads when the server is not there."""

from __future__ import annotations

import json

import httpx

from tests.cli._run import invoke

PROXY = {
    "stream_id": 4,
    "node_id": "front-1",
    "node_cluster": "front",
    "protocol": "delta",
    "peer": "ipv4:10.1.2.3:40000",
    "connected_at": "2025-03-01T12:00:00+00:00",
    "acked": {"clusters": "0123456789abcdef", "listeners": "fedcba9876543210"},
    "last_nack": {
        "type": "routes",
        "version": "deadbeefdeadbeef",
        "message": "Proto constraint validation failed",
        "at": "2025-03-01T12:00:05+00:00",
    },
    "nacks": 2,
    "synced_version": "0123456789abcdef",
    "current_version": "99999999abcdef00",
    "in_sync": False,
    "behind_since": "2025-03-01T12:00:05+00:00",
    "behind_seconds": 42.25,
}


def test_the_token_and_server_come_from_the_environment() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    env = {"WEIR_SERVER": "https://weir.example:8443", "WEIR_TOKEN": "s3cret"}
    result = invoke("proxies", env=env, transport=httpx.MockTransport(answer))

    assert result.exit_code == 0, result.output
    (request,) = seen
    assert str(request.url) == "https://weir.example:8443/v1/proxies"
    assert request.headers["Authorization"] == "Bearer s3cret"


def test_no_token_no_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    invoke("history", transport=httpx.MockTransport(answer))

    assert "Authorization" not in seen[0].headers
    assert str(seen[0].url) == "http://127.0.0.1:8080/v1/history"


def test_a_server_without_scheme_means_http() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    invoke("--server", "10.0.0.5:8080", "history", "web", transport=httpx.MockTransport(answer))

    assert str(seen[0].url) == "http://10.0.0.5:8080/v1/history?service=web"


def test_ids_are_escaped_into_one_path_segment() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"error": "unknown instance", "field": "id"})

    invoke("instance", "retire", "../services/x", transport=httpx.MockTransport(answer))

    assert seen[0].url.raw_path == b"/v1/instances/..%2Fservices%2Fx/retire"


def test_proxies_table_shows_acked_versions_and_envoys_rejection() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[PROXY]))

    result = invoke("proxies", transport=transport)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NODE", "CLUSTER", "PROTOCOL", "PEER", "CONNECTED", "CLUSTERS", "LISTENERS", "ROUTES",
        "SYNC", "NACKS",
    ]  # fmt: skip
    assert lines[1].split() == [
        "front-1", "front", "delta", "ipv4:10.1.2.3:40000", "2025-03-01", "12:00:00Z",
        "01234567", "fedcba98", "-", "behind", "42.2s", "2",
    ]  # fmt: skip
    assert lines[-1] == (
        "front-1 rejected routes version deadbeef at 2025-03-01 12:00:05Z: "
        "Proto constraint validation failed"
    )


def test_a_delta_proxys_routes_are_as_current_as_its_virtual_hosts() -> None:
    acked = {"routes": "aaaaaaaa00000000", "virtual_hosts": "bbbbbbbb00000000"}
    proxy = PROXY | {"acked": PROXY["acked"] | acked}  # type: ignore[operator]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[proxy]))

    result = invoke("proxies", transport=transport)

    assert result.stdout.splitlines()[1].split()[6:9] == ["01234567", "fedcba98", "bbbbbbbb"]


def test_a_proxy_holding_the_current_state_is_shown_current() -> None:
    proxy = PROXY | {"in_sync": True, "behind_since": None, "behind_seconds": None}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[proxy]))

    result = invoke("proxies", transport=transport)

    assert result.stdout.splitlines()[1].split()[-2:] == ["current", "2"]


def test_proxies_json_is_the_api_answer() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[PROXY]))

    result = invoke("proxies", "--json", transport=transport)

    assert json.loads(result.stdout) == [PROXY]


def test_a_server_error_without_json_is_one_line() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="Bad Gateway"))

    result = invoke("history", transport=transport)

    assert result.exit_code == 1
    assert result.stderr == "weir: the server answered 502: Bad Gateway\n"


def test_an_unreachable_server_exits_3_naming_its_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    result = invoke(
        "--server", "http://10.9.9.9:8080", "proxies", transport=httpx.MockTransport(refuse)
    )

    assert result.exit_code == 3
    assert result.stderr.startswith("weir: cannot reach the weir server at http://10.9.9.9:8080")
    assert "Traceback" not in result.output


def test_nothing_listening_exits_3_over_a_real_socket() -> None:
    result = invoke("history", env={"WEIR_SERVER": "http://127.0.0.1:1"})

    assert result.exit_code == 3
    assert "cannot reach the weir server at http://127.0.0.1:1" in result.stderr


def test_a_server_url_that_is_not_http_is_a_usage_error() -> None:
    result = invoke("history", "--server", "ftp://weir")

    assert result.exit_code == 2
    assert "--server 'ftp://weir' is not an http:// or https:// URL" in result.stderr


def test_wait_gives_up_after_its_timeout_saying_why() -> None:
    result = invoke("wait", "--timeout", "300ms", env={"WEIR_SERVER": "http://127.0.0.1:1"})

    assert result.exit_code == 3
    assert result.stderr.startswith("weir: still waiting after 300ms: cannot reach the weir server")


def test_wait_for_proxies_says_how_many_hold_the_state() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok", "ledger_seq": 4})
        if request.url.path == "/v1/whoami":
            return httpx.Response(200, json={"name": "ci", "role": "viewer"})
        return httpx.Response(200, json=[PROXY, PROXY | {"in_sync": True}])

    transport = httpx.MockTransport(answer)
    waited = invoke("wait", "--proxies", "1", env={"WEIR_TOKEN": "t"}, transport=transport)
    short = invoke("wait", "--proxies", "2", "--timeout", "200ms", env={"WEIR_TOKEN": "t"},
                   transport=transport)  # fmt: skip

    assert waited.stdout == (
        "weir is up at http://127.0.0.1:8080 (ledger entry 4); 1 proxy holds its current state\n"
    )
    assert short.exit_code == 3
    assert "1 of 2 proxies hold the current state (2 connected)" in short.stderr
