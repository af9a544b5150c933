"""/docs serves Swagger UI from weir's own assets, without a token, and names no other host."""

from __future__ import annotations

import re

import httpx


async def test_docs_and_its_assets_come_from_weir(api: httpx.AsyncClient) -> None:
    unauthenticated = {"Authorization": ""}

    page = await api.get("/docs", headers=unauthenticated)

    assert page.status_code == 200, page.text
    assert re.findall(r"https?://", page.text) == []
    assets = re.findall(r"""["'](/docs/assets/[^"']+)["']""", page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        answer = await api.get(asset, headers=unauthenticated)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 100, asset
    assert "/openapi.json" in page.text
