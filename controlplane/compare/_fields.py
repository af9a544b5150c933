"""An answer as the fields it is compared by. Pure.

Every answer becomes a flat mapping from a concrete place (`status`, `header:content-type`,
`$.items[3].price`, or `body` for a body that is not JSON) to its value, each place also named
as it is counted: list indices as `[*]`, so that `$.items[*].price` is one field however long
the list. A JSON body is compared field by field only when its content type says JSON, it parses,
it is at most MAX_JSON_BYTES and it has at most MAX_LEAVES values nested at most MAX_DEPTH deep;
any other body is compared as a whole, by its bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_JSON_BYTES = 256 * 1024
"""Larger JSON bodies are compared whole: parsing them field by field would hold the loop."""
MAX_LEAVES = 5000
MAX_DEPTH = 64
OVER_CAP = "(longer than the comparator reads)"
MAX_KEY_CHARS = 128
"""A longer object key is cut (and marked) in the field's name."""
_CACHED_KEY_CHARS = 64

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

Value = str | bytes
"""A JSON value in its canonical text, a header's value, a status, or a body's bytes."""
Fields = dict[str, tuple[str, Value]]
"""Concrete place -> (the field it counts as, its value)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What one instance answered: a status (or why there was none), headers and body."""

    status: int | str
    """The HTTP status, or `timeout` / `connection error` when no answer came."""
    headers: Mapping[str, str]
    """Lower-case names; repeated headers joined with ', '."""
    body: bytes = b""
    over_cap: bool = False
    """The body was longer than the comparator reads: it compares as OVER_CAP, unread."""

    @property
    def answered(self) -> bool:
        return isinstance(self.status, int)


def fields_of(answer: Answer, headers: tuple[str, ...]) -> Fields:
    """The answer's compared fields: status, the `headers` named, and its body."""
    fields: Fields = {"status": ("status", str(answer.status))}
    if not answer.answered:
        return fields
    for name in headers:
        value = answer.headers.get(name)
        if value is not None:
            place = f"header:{name}"
            fields[place] = (place, value)
    if answer.over_cap:
        fields["body"] = ("body", OVER_CAP)
    elif answer.body:
        parsed = _json_fields(answer) if _is_json(answer.headers) else None
        if parsed is None:
            fields["body"] = ("body", answer.body)
        else:
            fields.update(parsed)
    return fields


def _is_json(headers: Mapping[str, str]) -> bool:
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _json_fields(answer: Answer) -> Fields | None:
    """The JSON body's leaves, or None to compare it whole."""
    if len(answer.body) > MAX_JSON_BYTES:
        return None
    try:
        document = json.loads(answer.body)
    except (ValueError, RecursionError):  # not JSON, too deep for the parser, huge numbers
        return None
    return _flatten(document)


def _flatten(document: Any) -> Fields | None:
    """Leaves by concrete path, iteratively (no recursion on hostile nesting); None when the
    document has more than MAX_LEAVES leaves or nests deeper than MAX_DEPTH."""
    fields: Fields = {}
    stack: list[tuple[str, str, int, Any]] = [("$", "$", 0, document)]
    pop, push = stack.pop, stack.append
    while stack:
        concrete, field, depth, value = pop()
        kind = type(value)
        if kind is dict and value:
            if depth >= MAX_DEPTH:
                return None
            for key, item in value.items():
                step = _key(key)
                push((concrete + step, field + step, depth + 1, item))
        elif kind is list and value:
            if depth >= MAX_DEPTH:
                return None
            wild = field + "[*]"
            for index, item in enumerate(value):
                push((f"{concrete}[{index}]", wild, depth + 1, item))
        else:
            if len(fields) >= MAX_LEAVES:
                return None
            fields[concrete] = (field, _canonical(value, kind))
    return fields


def _key(key: str) -> str:
    """A key as a step of a path: `.name`, or `['any key']` (cut at MAX_KEY_CHARS)."""
    if len(key) <= _CACHED_KEY_CHARS:
        return _short_key(key)
    return _quoted(key[:MAX_KEY_CHARS] + "…" if len(key) > MAX_KEY_CHARS else key)


@lru_cache(maxsize=4096)
def _short_key(key: str) -> str:
    """Keys recur in every answer: remembered, when short (a hostile body's keys are bounded
    here in number and size)."""
    return "." + key if _IDENTIFIER.fullmatch(key) else _quoted(key)


def _quoted(key: str) -> str:
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _canonical(value: Any, kind: type) -> str:
    """A leaf's text, each kind told apart (1, 1.0, "1" and true are all different answers):
    a string in quotes (not escaped: cheaper, and still one text per string), numbers as
    Python writes them, true, false, null, and empty containers."""
    if kind is str:
        return f'"{value}"'
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)
    if value is None:
        return "null"
    return "{}" if kind is dict else "[]"
