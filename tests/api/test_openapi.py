"""The API describes itself, answers health checks and exposes Prometheus metrics."""

from __future__ import annotations

import httpx


async def test_the_openapi_schema_lists_every_v1_path(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert {
        "/v1/services": {"get"},
        "/v1/services/{name}": {"get", "put", "delete"},
        "/v1/instances": {"get", "post"},
        "/v1/instances/{instance_id}": {"get"},
        "/v1/instances/{instance_id}/activation": {"post"},
        "/v1/instances/{instance_id}/retire": {"post"},
        "/v1/history": {"get"},
        "/v1/proxies": {"get"},
    }.items() <= {path: set(ops) for path, ops in paths.items()}.items()
    refusal = paths["/v1/instances/{instance_id}/activation"]["post"]["responses"]["409"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "ServiceSpec-Input" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # 422s are ErrorBody


async def test_healthz_reports_the_ledger_position(web: httpx.AsyncClient) -> None:
    response = await web.get("/healthz")

    assert response.json() == {"status": "ok", "ledger_seq": 4}


async def test_metrics_are_served_at_exactly_metrics(web: httpx.AsyncClient) -> None:
    response = await web.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "weir_ledger_seq 4.0" in response.text
    assert 'weir_instances{service="web",state="live"} 1.0' in response.text
    assert 'weir_proxies_connected{protocol="sotw"} 0.0' in response.text
