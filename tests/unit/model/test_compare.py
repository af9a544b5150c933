"""The service file's `compare` section: safe methods by default, others only when side effects
are explicitly allowed; field rules checked and normalised; every mistake names its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.model import SAFE_METHODS, Compare, ServiceSpec


def refused(compare: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.model_validate({"name": "web", "compare": compare})
    return str(caught.value)


def test_an_empty_section_compares_safe_methods_on_status_content_type_and_body() -> None:
    compare = ServiceSpec.model_validate({"name": "web", "compare": {}}).compare
    assert compare == Compare()
    assert compare.methods == SAFE_METHODS == ("GET", "HEAD", "OPTIONS")
    assert compare.headers == ("content-type",)
    assert (compare.threshold, compare.alpha, compare.timeout, compare.examples) == (5, 0.01, 2, 3)


def test_a_method_that_may_change_data_needs_side_effects_allowed() -> None:
    assert "POST, DELETE may change the service's data" in refused({"methods": ["POST", "DELETE"]})
    allowed = Compare(methods=("GET", "POST"), allow_side_effects=True)
    assert allowed.methods == ("GET", "POST")


def test_field_rules_are_checked_and_list_indices_count_as_every_element() -> None:
    compare = Compare(
        ignore=("$.items[0].at", "$..trace_id", "header:Date", "status"),
        redact=("$['card number']", "query:token", "header:X-Api-Key"),
        headers=("ETag", "etag"),
    )
    assert compare.ignore == ("$.items[*].at", "$..trace_id", "header:date", "status")
    assert compare.redact == ("$['card number']", "query:token", "header:x-api-key")
    assert compare.headers == ("etag",)


@pytest.mark.parametrize(
    ("compare", "words"),
    [
        ({"ignore": ["price"]}, "'price' is not a field"),
        ({"ignore": ["query:token"]}, "query parameters are not compared"),
        ({"redact": ["header:bad header"]}, "is not a header name"),
        ({"headers": ["bad header"]}, "is not a header name"),
        ({"threshold": 0}, "greater than 0"),
        ({"alpha": 0.9}, "less than 0.5"),
        ({"timeout": "2h"}, "less than or equal to 60"),
        ({"examples": 50}, "less than or equal to 10"),
        ({"methods": ["GET", "GET"]}, "a method is listed twice"),
        ({"methods": ["TRACE"]}, "Input should be 'GET'"),
        ({"ignore": ["$.a"] * 65}, "at most 64 items"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_refused_naming_the_field(compare: dict[str, Any], words: str) -> None:
    assert words in refused(compare)
