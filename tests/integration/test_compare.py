"""Verification by comparing answers, with real Envoys: Envoy mirrors a compared shadow's
requests to weir's comparator, which asks the candidate and two old instances and judges the
differences beyond the old instances' own noise."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.harness import SteadyLoad, Upstream
from tests.compare._answers import BIG, answers
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, connect_envoy
from tests.integration._weir import WEIR, WeirServer
from tests.support import eventually

RPS = 100
CAP = 256 * 1024


@pytest.fixture
def judged(tmp_path: Path) -> Iterator[WeirServer]:
    """weir serve judging by Envoy's pushed stats, its comparator reading at most CAP bytes."""
    options = ("--stats", "push", "--compare-max-body", str(CAP))
    with WeirServer(tmp_path, options=options) as server:
        yield server


@pytest.fixture
def mesh(judged: WeirServer, start_envoy: StartEnvoy) -> Iterator[tuple[WeirServer, str]]:
    """Service web, compared, with two old instances live and one Envoy routing it."""
    judged.service(SERVICE, compare={"examples": 2})
    old = [Upstream(name, answer=answers()).start() for name in ("old-a", "old-b")]
    try:
        for upstream in old:
            judged.instance(SERVICE, upstream.instance_id, upstream.address)
            judged.live(upstream.instance_id, 50)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)

        def routed() -> None:
            reply = httpx.get(url, headers={"Host": SERVICE}, timeout=2)
            assert reply.status_code == 200 and reply.json()["price"] == 10

        eventually(routed, timeout=15)
        yield judged, url
    finally:
        for upstream in old:
            upstream.stop()


def candidate(server: WeirServer, name: str, upstream: Upstream) -> None:
    server.instance(SERVICE, name, upstream.address, version="v2")
    server.shadow(name, 100)


def verdict_on(server: WeirServer, name: str) -> dict[str, Any]:
    [entry] = [
        e
        for e in server.history()
        if e["event"]["kind"] == "verdict_recorded" and e["event"]["instance_id"] == name
    ]
    assert entry["actor"] == "evaluator"
    verdict: dict[str, Any] = entry["event"]["verdict"]
    return verdict


def fields_of(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [endpoint] = verdict["comparison"]["endpoints"]
    assert endpoint["endpoint"] == "GET prefix /"
    return {f["field"]: f for f in endpoint["fields"]}


def compare_counts(server: WeirServer) -> dict[str, float]:
    text = server.api.get("/metrics").text
    return {
        m[1]: float(m[2])
        for m in re.finditer(r'^weir_compare_requests_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    }


def weir_cli(server: WeirServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WEIR, "--server", server.api_url, *args], capture_output=True, text=True, timeout=30
    )


def test_a_changed_price_fails_the_candidate_naming_the_field_with_examples(
    mesh: tuple[WeirServer, str],
) -> None:
    server, url = mesh
    with Upstream("bad", answer=answers(changed_price_every=5)) as bad:
        # When a candidate that answers another price on one request in five is compared
        candidate(server, "bad", bad)
        with SteadyLoad(url, SERVICE, rps=RPS) as load:

            def rolled_back() -> None:
                [now] = [
                    i for i in server.call("GET", "/v1/instances") if i["instance"]["id"] == "bad"
                ]
                assert now["activation"]["state"] == "inactive"

            eventually(rolled_back, timeout=60, interval=0.2)

    # Then it fails on $.price, with examples, and the evaluator deactivated it
    verdict = verdict_on(server, "bad")
    assert verdict["outcome"] == "fail"
    assert verdict["reason"].startswith("$.price of GET prefix / differs from the old version")
    fields = fields_of(verdict)
    price = fields["$.price"]
    assert price["failed"] and price["noise_rate"] == 0.0
    assert 0.1 < price["candidate_rate"] < 0.3
    assert [(e["method"], e["path"], e["field"], e["primary"], e["candidate"])
            for e in price["examples"]] == [("GET", "/", "$.price", "10", "12")] * 2  # fmt: skip
    # the timestamp and the id differ as often between the two old instances: not failed
    for noise in ("$.at", "$.id"):
        assert not fields[noise]["failed"]
        assert fields[noise]["candidate_rate"] == fields[noise]["noise_rate"] == 1.0
    # every caller was answered by the old version, at once (the mirror is fire and forget)
    assert set(load.outcomes) == {"200"}
    # and the candidate only ever saw the comparator's GETs, with the caller's Host
    assert set(bad.methods()) == {"GET"} and set(bad.hosts()) == {SERVICE}

    # The CLI shows it: the history names the field, `weir differences` the examples
    history = weir_cli(server, "history", SERVICE)
    assert history.returncode == 0, history.stderr
    assert "verdict fail" in history.stdout and "$.price of GET prefix /" in history.stdout
    shown = weir_cli(server, "differences", SERVICE)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^\s+\$\.price\s+[\d.]+%\s+0\.0%.*FAIL$", shown.stdout, re.M), shown.stdout
    assert "e.g. GET /  $.price: old 10 → new 12 (other old 10)" in shown.stdout


def test_a_candidate_differing_only_where_the_old_instances_do_passes(
    mesh: tuple[WeirServer, str],
) -> None:
    server, url = mesh
    with Upstream("good", answer=answers()) as good:
        candidate(server, "good", good)
        with SteadyLoad(url, SERVICE, rps=RPS):

            def decided() -> None:
                assert any(e["event"]["kind"] == "verdict_recorded" for e in server.history()), (
                    "no verdict yet"
                )

            eventually(decided, timeout=60, interval=0.2)

    verdict = verdict_on(server, "good")
    assert verdict["outcome"] == "pass", verdict["reason"]
    fields = fields_of(verdict)
    assert set(fields) == {"$.at", "$.id"}  # nothing else ever differed
    assert not any(f["failed"] for f in fields.values())
    assert verdict["comparison"]["compared"] >= 100
    [good_now] = [i for i in server.call("GET", "/v1/instances") if i["instance"]["id"] == "good"]
    assert good_now["activation"]["state"] == "shadow"


def test_a_post_is_not_mirrored_by_default(mesh: tuple[WeirServer, str]) -> None:
    server, url = mesh
    with Upstream("cand", answer=answers()) as cand:
        candidate(server, "cand", cand)
        # When only POSTs reach the service
        with httpx.Client(headers={"Host": SERVICE}, timeout=5) as client:
            for _ in range(50):
                assert client.post(url, content=b"order=1").status_code == 200
            # Then none reaches the comparator (not even to be refused) or the candidate; a GET
            # does, which shows the mirror was in place all along
            assert sum(compare_counts(server).values()) == 0
            assert cand.methods() == {}

            def mirrored() -> None:
                assert client.get(url).status_code == 200
                assert compare_counts(server).get("compared", 0) >= 1

            eventually(mirrored, timeout=15, interval=0.2)
    assert set(cand.methods()) == {"GET"}


def test_oversized_bodies_are_bounded_not_buffered(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, compare={"methods": ["GET", "POST"], "allow_side_effects": True})
    old = [Upstream(name, answer=answers()).start() for name in ("old-a", "old-b")]
    big = Upstream("big", answer=answers(changed_price_every=1000)).start()
    try:
        for upstream in old:
            judged.instance(SERVICE, upstream.instance_id, upstream.address)
            judged.live(upstream.instance_id, 50)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)
        serves_json(url)
        candidate(judged, "big", big)
        with httpx.Client(headers={"Host": SERVICE}, timeout=10) as client:
            # A request body over the cap: the caller is answered by the old version as
            # ever, and the comparator refuses the mirrored copy having read at most the cap
            def refused() -> None:
                reply = client.post(url, content=b"x" * (4 * CAP))
                assert reply.status_code == 200
                assert compare_counts(judged).get("too_large", 0) >= 1

            eventually(refused, timeout=15, interval=0.2)

            # An answer over the cap: the candidate's 32 MiB answer is read no further than the
            # cap (it could not even write it all), and compared as "too long"
            def compared_big() -> None:
                assert client.get(url + "big").status_code == 200
                assert compare_counts(judged).get("compared", 0) >= 1

            eventually(compared_big, timeout=15, interval=0.2)
    finally:
        for upstream in [*old, big]:
            upstream.stop()
    assert 0 < big.body_bytes_sent() < BIG // 2

    def judged_too_long() -> None:  # the evaluator's next tick shows it
        evaluations = judged.call("GET", "/v1/evaluations")
        verdicts = [e["verdict"] for e in evaluations if e["instance_id"] == "big"]
        assert verdicts and verdicts[0] is not None, evaluations
        endpoints = verdicts[0]["comparison"]["endpoints"]
        assert [e["endpoint"] for e in endpoints] == ["GET prefix /"], verdicts[0]
        body = [f for f in endpoints[0]["fields"] if f["field"] == "body"]
        assert body, endpoints[0]
        assert body[0]["examples"][0]["candidate"] == "(longer than the comparator reads)"

    eventually(judged_too_long, timeout=10, interval=0.2)


def serves_json(url: str) -> None:
    def check() -> None:
        reply = httpx.get(url, headers={"Host": SERVICE}, timeout=2)
        assert reply.status_code == 200 and reply.json()["price"] == 10

    eventually(check, timeout=15)
