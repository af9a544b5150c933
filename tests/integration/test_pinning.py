"""A/B pinning in a real Envoy: a request naming a version reaches only that version."""

from __future__ import annotations

import httpx

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WeirServer
from tests.support import eventually, send_requests

N = 200


def test_pinned_requests_reach_only_the_named_version(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given web with pinning on for dark launches, a (v1) live and b (v2) registered, inactive
    weir.service(SERVICE, pinning={"enabled": True, "dark_launch": True})
    for instance_id, version in (("a", "v1"), ("b", "v2")):
        weir.instance(SERVICE, instance_id, start_upstream(instance_id).address, version)
    weir.live("a", 100)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
    serves(url, "a")

    def pinned(version: str) -> dict[str, int]:
        with httpx.Client(headers={"x-weir-version": version}, trust_env=False) as client:
            return send_requests(url, N, SERVICE, client=client).bodies()

    # Then testers reach the inactive v2 by naming it, and everyone else stays on v1
    eventually(lambda: pinned("v2") == {"b": N}, timeout=10)
    assert pinned("v1") == {"a": N}
    assert send_requests(url, N, SERVICE).bodies() == {"a": N}

    # When b goes live beside a, pinning to v1 still never reaches b
    weir.live("b", 100)
    eventually(lambda: set(send_requests(url, 100, SERVICE).bodies()) == {"a", "b"}, timeout=10)
    assert pinned("v1") == {"a": N}


def test_an_empty_pinning_section_lets_no_request_reach_an_inactive_instance(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given web with `pinning: {}` (once read as "on"), a (v1) live and b (v2) inactive
    weir.service(SERVICE, pinning={})
    for instance_id, version in (("a", "v1"), ("b", "v2")):
        weir.instance(SERVICE, instance_id, start_upstream(instance_id).address, version)
    weir.live("a", 100)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
    serves(url, "a")

    # Then naming v2 in x-weir-version reaches a, never the inactive b
    with httpx.Client(headers={"x-weir-version": "v2"}, trust_env=False) as client:
        assert send_requests(url, N, SERVICE, client=client).bodies() == {"a": N}
