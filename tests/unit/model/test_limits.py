"""Every string, list and mapping the ledger or the API accepts has a documented bound.

Walks the JSON schema of every ledger event and of every API request body: a string needs a
maxLength (or an enum, or a date-time format), a list maxItems, a mapping maxProperties and
bounded keys. A new unbounded field fails here until it gets a limit (model/_limits.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import Event, Instance, ServiceSpec
from controlplane.xds import ProxyRegistry


def unbounded(schema: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()

    def walk(node: dict[str, Any], where: str) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return
            seen.add(name)
            walk(defs[name], where)
            seen.discard(name)
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key, ()):
                walk(sub, where)
        kind = node.get("type")
        if kind == "string":
            bounded = "maxLength" in node or "enum" in node or "const" in node
            if not bounded and node.get("format") != "date-time":
                found.append(f"{where}: string")
        elif kind == "array":
            if "maxItems" not in node:
                found.append(f"{where}: list")
            if "items" in node:
                walk(node["items"], f"{where}[]")
        elif kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                if "maxProperties" not in node:
                    found.append(f"{where}: mapping")
                walk({"type": "string", **node.get("propertyNames", {})}, f"{where} key")
                walk(extra, f"{where}{{}}")
            for name, sub in node.get("properties", {}).items():
                walk(sub, f"{where}.{name}")

    walk(schema, path)
    return found


def test_every_field_of_every_ledger_event_is_bounded() -> None:
    schema = TypeAdapter(Event).json_schema()
    assert unbounded(schema, schema.get("$defs", {}), "event") == []


def test_every_field_of_every_api_request_body_is_bounded(tmp_path: Path) -> None:
    app = create_app(Controller(SqliteStore(tmp_path / "weir.db")), ProxyRegistry())
    openapi = app.openapi()
    found = []
    for route, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            if body is not None:
                found += unbounded(body, openapi["components"]["schemas"], f"{method} {route}")
    assert found == []


def address(host: str) -> dict[str, str]:
    return {"id": "a", "service": "web", "version": "v1", "address": f"{host}:80"}


def test_a_host_name_is_at_most_what_dns_allows() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
    assert Instance.model_validate(address(longest)).address == f"{longest}:80"
    with pytest.raises(ValidationError, match="longer than a DNS name may be"):
        Instance.model_validate(address(longest + "d"))
    with pytest.raises(ValidationError, match="longer than a DNS name may be"):
        Instance.model_validate(address("a" * 64))
    with pytest.raises(ValidationError, match="at most 261 characters"):
        Instance.model_validate(address("a" * 100_000))


@pytest.mark.parametrize(
    ("field", "at_the_limit", "over"),
    [
        ("domains", [f"d{n}" for n in range(64)], [f"d{n}" for n in range(65)]),
        ("routes", [{}] * 64, [{}] * 65),
        ("rollout", {"bake": "0" * 397 + "1ms"}, {"bake": "0" * 398 + "1ms"}),
        ("rollout", {"steps": [*range(1, 100), 100]}, {"steps": [n / 2 for n in range(1, 201)]}),
    ],
)
def test_service_file_limits_at_their_edge(field: str, at_the_limit: Any, over: Any) -> None:
    ServiceSpec.model_validate({"name": "web", field: at_the_limit})
    with pytest.raises(ValidationError):
        ServiceSpec.model_validate({"name": "web", field: over})


def test_labels_at_their_edge() -> None:
    fits = {f"k{n}": "v" * 256 for n in range(64)}
    Instance.model_validate({**address("h"), "labels": fits})
    with pytest.raises(ValidationError):
        Instance.model_validate({**address("h"), "labels": {**fits, "one-more": "v"}})
    with pytest.raises(ValidationError):
        Instance.model_validate({**address("h"), "labels": {"k": "v" * 257}})
