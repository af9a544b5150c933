"""Three answers -> which fields differ: the candidate's against the primary's, and the noise
(the secondary's against the primary's), with ignore and redact rules applied."""

from __future__ import annotations

import json

from controlplane.compare import REDACTED, Answer, FieldOutcome, Rules, differences
from controlplane.model import Compare

JSON = {"content-type": "application/json"}


def answer(
    document: object, status: int = 200, headers: dict[str, str] | None = None, **more: str
) -> Answer:
    return Answer(status, {**JSON, **(headers or {}), **more}, json.dumps(document).encode())


def rules(**spec: object) -> Rules:
    return Rules(Compare.model_validate(spec))


def test_identical_answers_have_no_differences() -> None:
    same = answer({"price": 10})
    assert differences(same, same, same, rules()) == {}


def test_a_changed_price_is_the_candidates_difference_with_its_example() -> None:
    found = differences(
        answer({"price": 10, "at": 1}),
        answer({"price": 10, "at": 2}),
        answer({"price": 12, "at": 3}),
        rules(),
    )
    assert found["$.price"].candidate_differs and not found["$.price"].noise_differs
    example = found["$.price"].example
    assert example is not None
    assert (example.place, example.primary, example.candidate, example.secondary) == (
        "$.price",
        "10",
        "12",
        "10",
    )
    assert found["$.at"] == FieldOutcome(True, True, found["$.at"].example)


def test_one_element_of_a_list_differing_is_the_whole_field_differing() -> None:
    primary = answer({"items": [{"price": 1}, {"price": 2}]})
    candidate = answer({"items": [{"price": 1}, {"price": 3}]})
    found = differences(primary, primary, candidate, rules())
    assert list(found) == ["$.items[*].price"]
    assert found["$.items[*].price"].example is not None
    assert found["$.items[*].price"].example.place == "$.items[1].price"


def test_a_missing_field_or_an_emptied_list_differs() -> None:
    primary = answer({"items": [{"price": 1}], "name": "a"})
    found = differences(primary, primary, answer({"items": []}), rules())
    assert set(found) == {"$.items", "$.items[*].price", "$.name"}
    example = found["$.name"].example
    assert example is not None and example.candidate is None


def test_status_and_named_headers_are_compared() -> None:
    primary = answer({}, etag="1")
    found = differences(primary, primary, answer({}, 500, etag="2"), rules(headers=["ETag"]))
    assert set(found) == {"status", "header:etag"}


def test_ignored_fields_and_their_insides_are_not_differences() -> None:
    found = differences(
        answer({"request_id": "a", "meta": {"at": 1}, "deep": {"trace_id": 1}}, date="x"),
        answer({"request_id": "b", "meta": {"at": 2}, "deep": {"trace_id": 2}}, date="y"),
        answer({"request_id": "c", "meta": {"at": 3}, "deep": {"trace_id": 3}}, date="z"),
        rules(headers=["date"], ignore=["$.request_id", "$.meta", "$..trace_id", "header:date"]),
    )
    assert found == {}


def test_redacted_values_are_never_in_an_example() -> None:
    primary = answer(
        {"card": "4111-1111", "cards": [{"number": "1"}]}, headers={"set-cookie": "s=1"}
    )
    candidate = answer(
        {"card": "5500-0000", "cards": [{"number": "2"}]}, headers={"set-cookie": "s=2"}
    )
    found = differences(
        primary,
        primary,
        candidate,
        rules(headers=["set-cookie"], redact=["$.card", "$.cards[0].number"]),
    )
    for field in ("$.card", "$.cards[*].number", "header:set-cookie"):
        example = found[field].example
        assert example is not None
        assert (example.primary, example.candidate) == (REDACTED, REDACTED), field


def test_redacted_query_values_leave_the_stored_path() -> None:
    shown = rules(redact=["query:token"]).shown_path("/a?token=s3cret&page=2")
    assert shown == "/a?token=<redacted>&page=2"


def test_long_values_and_binary_bodies_are_cut() -> None:
    primary = Answer(200, {}, b"\xff" * 5000)
    found = differences(primary, primary, Answer(200, {}, b"x" * 5000), rules())
    example = found["body"].example
    assert example is not None and example.primary is not None and example.candidate is not None
    assert len(example.primary) < 300 and example.candidate.endswith("(5000 bytes)")
