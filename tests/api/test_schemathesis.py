"""The API fuzzed from its own OpenAPI schema, in-process over ASGI, as an admin, with valid
and invalid inputs: no answer is a server error, every answer matches the schema (documented
status, content type, body), and each guarded operation refuses a request without the token.

Bounded: MAX_EXAMPLES per operation (25 operations; about 20 s here).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.schemas import BaseSchema

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ledger import SqliteStore
from controlplane.model import Instance, ServiceSpec
from controlplane.rollout import RolloutDriver
from controlplane.stats import PushSource
from controlplane.verdict import extra_failures, judge, split_mismatch
from controlplane.xds import ProxyRegistry
from tests.support import StaticTokens, bearer

CHECKS = [
    not_a_server_error,
    ignored_auth,  # without the token, or with a wrong one, the answer is 401
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 40


def _app_schema() -> BaseSchema:
    """An app over an in-memory ledger with a service and two instances, so that paths can
    name real ones. Built at import: schemathesis' lazy fixture schemas fail on pytest 9."""
    controller = Controller(SqliteStore(":memory:"))
    controller.apply_service(ServiceSpec(name="web"), actor="setup")
    for n in (1, 2):
        instance = Instance(id=f"web-{n}", service="web", version=f"v{n}", address="10.0.0.1:80")
        controller.add_instance(instance, actor="setup")
    # With an evaluator on the push source, as `weir serve` runs by default.
    evaluator = Evaluator(
        controller, PushSource(), judge=judge, extra_failures=extra_failures,
        split_check=split_mismatch,
    )  # fmt: skip
    driver = RolloutDriver(controller)
    app = create_app(controller, ProxyRegistry(), evaluator, driver, auth=StaticTokens())
    # The dashboard's event stream does not end by itself, so it cannot be called as a request
    # and its answer checked: tests/api/test_dashboard_stream.py takes a bounded one instead.
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/dashboard/stream")


schema = _app_schema()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_no_server_error_and_every_answer_matches_the_schema(case: Case[Any]) -> None:
    case.call_and_validate(headers=bearer(), checks=CHECKS)
