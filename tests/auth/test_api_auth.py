"""Tokens from the ledger guard the API: 401 and 403 before any body is read, the token's
name as the actor, revocation in force at once, 413 for bodies over the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controlplane.api import create_app
from controlplane.auth import FIRST_ADMIN, issue_first_admin
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import TokenCreated
from controlplane.xds import ProxyRegistry

LIMIT = 4096


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "weir.db")


@pytest.fixture
def admin(store: SqliteStore) -> str:
    secret = issue_first_admin(store)
    assert secret is not None
    return secret


@pytest.fixture
async def api(store: SqliteStore, admin: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Controller(store), ProxyRegistry(), max_body=LIMIT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
        yield client


def as_(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def token(api: httpx.AsyncClient, admin: str, name: str, role: str) -> str:
    answer = await api.post("/v1/tokens", json={"name": name, "role": role}, headers=as_(admin))
    assert answer.status_code == 201, answer.text
    secret: str = answer.json()["token"]
    return secret


async def test_the_ledger_keeps_a_digest_never_the_secret(store: SqliteStore, admin: str) -> None:
    [entry] = store.read()
    assert isinstance(entry.event, TokenCreated)
    assert (entry.actor, entry.event.name, entry.event.role) == ("serve", FIRST_ADMIN, "admin")
    assert admin not in entry.model_dump_json() and len(entry.event.sha256) == 64
    assert issue_first_admin(store) is None  # a ledger with a token gets no second one


async def test_a_malformed_body_without_a_token_gets_401_not_422(
    api: httpx.AsyncClient, store: SqliteStore
) -> None:
    for headers in ({}, as_("weir_not-a-token"), {"Authorization": "Basic YTpi"}):
        answer = await api.put(
            "/v1/services/web",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert len(store.read()) == 1


async def test_each_role_may_do_its_part_and_no_more(
    api: httpx.AsyncClient, store: SqliteStore, admin: str
) -> None:
    viewer = await token(api, admin, "vera", "viewer")
    operator = await token(api, admin, "otto", "operator")
    before = len(store.read())

    # a viewer reads, but an under-privileged write is 403 before its (malformed) body is read
    assert (await api.get("/v1/services", headers=as_(viewer))).status_code == 200
    refused = await api.put("/v1/services/web", content=b"{", headers=as_(viewer))
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "token 'vera' has role viewer; PUT /v1/services/web needs admin"
    )
    assert (await api.get("/v1/tokens", headers=as_(operator))).status_code == 403
    assert len(store.read()) == before

    # services are the admin's; instances and activations the operator's, recorded as theirs
    applied = await api.put("/v1/services/web", json={"name": "web"}, headers=as_(admin))
    assert applied.json()["actor"] == FIRST_ADMIN
    body = {"id": "web-1", "service": "web", "version": "v1", "address": "10.0.0.1:80"}
    assert (await api.post("/v1/instances", json=body, headers=as_(viewer))).status_code == 403
    assert (await api.post("/v1/instances", json=body, headers=as_(operator))).status_code == 201
    live = await api.post(
        "/v1/instances/web-1/activation", json={"state": "live"}, headers=as_(operator)
    )
    assert live.status_code == 200 and live.json()["actor"] == "otto"
    assert [e.actor for e in store.read()[before:]] == [FIRST_ADMIN, "otto", "otto"]


async def test_token_list_shows_names_and_roles_never_secrets(
    api: httpx.AsyncClient, admin: str
) -> None:
    viewer = await token(api, admin, "vera", "viewer")

    listed = await api.get("/v1/tokens", headers=as_(admin))

    assert [(t["name"], t["role"], t["created_by"]) for t in listed.json()] == [
        (FIRST_ADMIN, "admin", "serve"),
        ("vera", "viewer", FIRST_ADMIN),
    ]
    assert viewer not in listed.text and admin not in listed.text and "sha256" not in listed.text


async def test_a_revoked_token_is_refused_at_once_and_the_last_admin_stays(
    api: httpx.AsyncClient, admin: str
) -> None:
    viewer = await token(api, admin, "vera", "viewer")
    assert (await api.get("/v1/history", headers=as_(viewer))).status_code == 200

    revoked = await api.post("/v1/tokens/vera/revoke", json={}, headers=as_(admin))

    assert revoked.status_code == 200 and revoked.json()["event"]["kind"] == "token_revoked"
    refused = await api.get("/v1/history", headers=as_(viewer))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    last = await api.post(f"/v1/tokens/{FIRST_ADMIN}/revoke", json={}, headers=as_(admin))
    assert last.status_code == 409 and "last admin token" in last.json()["error"]
    again = await api.post(
        "/v1/tokens", json={"name": "evaluator", "role": "admin"}, headers=as_(admin)
    )
    assert again.status_code == 409 and again.json()["field"] == "name"


async def test_public_paths_need_no_token(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/", "/openapi.json", "/metrics"):
        assert (await api.get(path)).status_code == 200, path
    assert (await api.get("/v1/nowhere")).status_code == 401  # no probing without a token


async def test_a_body_over_the_limit_is_413_declared_or_chunked(
    api: httpx.AsyncClient, store: SqliteStore, admin: str
) -> None:
    big = b'{"name": "web", "domains": [' + b'"a",' * LIMIT + b'"b"]}'

    declared = await api.put("/v1/services/web", content=big, headers=as_(admin))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    chunked = await api.put("/v1/services/web", content=chunks(), headers=as_(admin))

    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.json()["field"] == "body" and str(LIMIT) in answer.json()["error"]
    assert len(store.read()) == 1
    small = await api.put("/v1/services/web", json={"name": "web"}, headers=as_(admin))
    assert small.status_code == 200
