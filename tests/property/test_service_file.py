"""Property: whatever text a service file holds, weir either accepts it whole or refuses it
with its documented error (CliError from the YAML reader, pydantic's ValidationError from the
model, a 4xx through the API); nothing else escapes, and whatever is accepted round-trips."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from pydantic import ValidationError

from controlplane.api import create_app
from controlplane.cli._errors import CliError
from controlplane.cli._yaml import load_service_file
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import ServiceSpec
from controlplane.xds import ProxyRegistry
from tests.cli._run import invoke
from tests.property._service_files import SERVICE_DOCUMENTS, YAML_TEXT

SOURCE = "checkout.yaml"

# The strategies are large and hypothesis warns when it prints one; the examples stay small.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def read(text: str) -> dict[str, Any] | None:
    """The document weir would send, or None when the reader refused it (as documented)."""
    try:
        return load_service_file(io.StringIO(text), SOURCE)
    except CliError as exc:
        assert exc.message.startswith(f"{SOURCE}: "), exc.message
        return None


def validate(document: Any) -> ServiceSpec | None:
    try:
        return ServiceSpec.model_validate(document)
    except ValidationError as exc:
        assert exc.error_count() >= 1
        return None


def assert_round_trips(spec: ServiceSpec) -> None:
    """As the ledger stores it (JSON), as the API returns it, and as a service file again."""
    assert ServiceSpec.model_validate_json(spec.model_dump_json()) == spec
    as_json = spec.model_dump(mode="json")
    assert ServiceSpec.model_validate(as_json) == spec
    assert ServiceSpec.model_validate(read(yaml.safe_dump(as_json, sort_keys=False))) == spec


@settings(max_examples=300, deadline=None)
@given(YAML_TEXT)
def test_any_text_is_read_or_refused_and_what_is_accepted_round_trips(text: str) -> None:
    document = read(text)
    spec = validate(document) if document is not None else None
    event("refused by the reader" if document is None else "accepted" if spec else "invalid")
    if spec is not None:
        assert_round_trips(spec)


@settings(max_examples=300, deadline=None)
@given(SERVICE_DOCUMENTS)
def test_any_document_is_a_spec_or_a_validation_error(document: dict[str, Any]) -> None:
    spec = validate(document)
    event("accepted" if spec else "invalid")
    if spec is not None:
        assert_round_trips(spec)


def test_the_documented_service_file_round_trips() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    text = readme.split("## The service file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]

    spec = validate(read(text))

    assert spec is not None and spec.name == "checkout"
    assert_round_trips(spec)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Controller, httpx.MockTransport]]:
    """The real API app in-process, as the transport `weir apply` sends through."""
    store = SqliteStore(tmp_path_factory.mktemp("apply") / "weir.db")
    controller = Controller(store)
    app = httpx.ASGITransport(app=create_app(controller, ProxyRegistry()))

    async def call(request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncClient(transport=app, base_url="http://weir") as client:
            return await client.request(
                request.method, request.url.raw_path.decode("ascii"), content=request.content,
                headers=request.headers,
            )  # fmt: skip

    def forward(request: httpx.Request) -> httpx.Response:
        answer = asyncio.run(call(request))  # the CLI is synchronous; no loop runs here
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    yield controller, httpx.MockTransport(forward)
    store.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=YAML_TEXT)
@example(text="\x08")  # once a two-line message: PyYAML's ReaderError spans two lines
@example(text="name: web\nrollout: {bake: 1000.5}\n")  # once a 500: "1.0005e+06ms"
def test_weir_apply_applies_whole_or_refuses_in_one_line(
    api: tuple[Controller, httpx.MockTransport], text: str
) -> None:
    controller, transport = api
    before = controller.history()

    result = invoke("apply", "-f", "-", stdin=text, transport=transport)

    after = controller.history()
    assert "Traceback" not in result.output and "internal error" not in result.output
    event(f"exit {result.exit_code}")
    if result.exit_code == 0:
        assert result.output.startswith("applied service "), result.output
        assert after[: len(before)] == before and len(after) == len(before) + 1
        spec = ServiceSpec.model_validate(read(text))
        assert controller.state.services[spec.name] == spec
    else:
        assert result.exit_code == 1, result.output
        assert result.output.startswith("weir: ") and result.output.count("\n") == 1, result.output
        assert after == before
