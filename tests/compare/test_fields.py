"""An answer as the fields it is compared by: JSON field by field, other bodies whole, and
hostile bodies bounded."""

from __future__ import annotations

import json

from controlplane.compare import Answer, fields_of
from controlplane.compare._fields import MAX_DEPTH, MAX_JSON_BYTES, MAX_LEAVES, OVER_CAP

JSON = {"content-type": "application/json; charset=utf-8"}


def json_answer(document: object, status: int = 200) -> Answer:
    return Answer(status, JSON, json.dumps(document).encode())


def test_a_json_body_is_its_leaves_with_lists_counted_as_one_field() -> None:
    fields = fields_of(json_answer({"items": [{"price": 10}, {"price": 1.0}], "ok": True}), ())
    assert fields == {
        "status": ("status", "200"),
        "$.items[0].price": ("$.items[*].price", "10"),
        "$.items[1].price": ("$.items[*].price", "1.0"),
        "$.ok": ("$.ok", "true"),
    }


def test_odd_keys_are_quoted_and_empty_containers_are_values() -> None:
    fields = fields_of(json_answer({"a b": [], "it's": {}, "x": None}), ())
    assert fields["$['a b']"] == ("$['a b']", "[]")
    assert fields["$['it\\'s']"] == ("$['it\\'s']", "{}")
    assert fields["$.x"] == ("$.x", "null")


def test_headers_are_compared_only_when_named() -> None:
    answer = Answer(200, {"content-type": "text/plain", "date": "now", "etag": "1"}, b"hi")
    assert fields_of(answer, ("etag", "missing")) == {
        "status": ("status", "200"),
        "header:etag": ("header:etag", "1"),
        "body": ("body", b"hi"),
    }


def test_a_body_that_is_not_json_or_says_it_is_not_compares_whole() -> None:
    assert fields_of(Answer(200, JSON, b"{not json"), ())["body"] == ("body", b"{not json")
    plain = Answer(200, {"content-type": "text/plain"}, b'{"a": 1}')
    assert fields_of(plain, ())["body"] == ("body", b'{"a": 1}')


def test_hostile_json_is_compared_whole_not_field_by_field() -> None:
    deep = b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5)
    assert "body" in fields_of(Answer(200, JSON, deep), ())
    very_deep = b"[" * 100_000 + b"]" * 100_000  # past the parser's own recursion limit
    assert "body" in fields_of(Answer(200, JSON, very_deep), ())
    wide = json.dumps(list(range(MAX_LEAVES + 1))).encode()
    assert "body" in fields_of(Answer(200, JSON, wide), ())
    big = json.dumps({"a": "x" * MAX_JSON_BYTES}).encode()
    assert "body" in fields_of(Answer(200, JSON, big), ())
    huge_number = b"1" * 5000  # int() refuses this many digits
    assert "body" in fields_of(Answer(200, JSON, huge_number), ())


def test_no_answer_is_its_reason_and_an_oversized_body_a_marker() -> None:
    assert fields_of(Answer("timeout", {}), ()) == {"status": ("status", "timeout")}
    assert fields_of(Answer(200, JSON, over_cap=True), ())["body"] == ("body", OVER_CAP)
