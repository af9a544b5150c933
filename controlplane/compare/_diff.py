"""Three answers to one request -> which fields differ, candidate against primary and secondary
against primary. Pure.

The primary and the secondary are two instances of the old version; where they differ from each
other (timestamps, ids, an order that is random), a difference of the candidate's is no evidence
against it. That judgement is made over many requests (controlplane.verdict._compare); here each
request only says, per field, whether the candidate differed and whether the noise did.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.compare._fields import Answer, Value, fields_of
from controlplane.compare._rules import REDACTED, Rules

MAX_VALUE_CHARS = 200
"""Values kept in an example are cut to this many characters."""


@dataclass(frozen=True, slots=True)
class Example:
    """Where a field differed on one request, with the three values as they may be stored."""

    place: str
    primary: str | None
    candidate: str | None
    secondary: str | None


@dataclass(frozen=True, slots=True)
class FieldOutcome:
    candidate_differs: bool
    noise_differs: bool
    example: Example | None
    """The first place in the field where the candidate differed (None when it did not)."""


Differences = dict[str, FieldOutcome]
"""Counted field -> what differed in it; fields where nothing differed are left out."""


def differences(primary: Answer, secondary: Answer, candidate: Answer, rules: Rules) -> Differences:
    """The fields in which the candidate's or the secondary's answer differs from the primary's,
    less the ignored ones."""
    ours, noise, theirs = (fields_of(a, rules.headers) for a in (primary, secondary, candidate))
    if ours == theirs == noise:
        return {}
    found: Differences = {}
    for place, (field, p) in ours.items():
        s, c = _value(noise.get(place)), _value(theirs.get(place))
        if not (p == s and p == c):
            _count(found, place, field, p, s, c, rules)
    for place, (field, s) in noise.items():
        if place not in ours:
            _count(found, place, field, None, s, _value(theirs.get(place)), rules)
    for place, (field, c) in theirs.items():
        if place not in ours and place not in noise:
            _count(found, place, field, None, None, c, rules)
    return found


def _value(found: tuple[str, Value] | None) -> Value | None:
    return None if found is None else found[1]


def _count(
    found: Differences,
    place: str,
    field: str,
    p: Value | None,
    s: Value | None,
    c: Value | None,
    rules: Rules,
) -> None:
    """Fold one place's values into its field's outcome (the field differs where any of its
    places does; its example is the first place where the candidate differs)."""
    if rules.ignored(field):
        return
    candidate_differs, noise_differs = p != c, p != s
    seen = found.get(field)
    if seen is None:
        example = _example(place, field, p, c, s, rules) if candidate_differs else None
        found[field] = FieldOutcome(candidate_differs, noise_differs, example)
    elif (candidate_differs and not seen.candidate_differs) or (
        noise_differs and not seen.noise_differs
    ):
        example = seen.example
        if example is None and candidate_differs:
            example = _example(place, field, p, c, s, rules)
        found[field] = FieldOutcome(
            seen.candidate_differs or candidate_differs,
            seen.noise_differs or noise_differs,
            example,
        )


def _example(
    place: str, field: str, p: Value | None, c: Value | None, s: Value | None, rules: Rules
) -> Example:
    if rules.redacted(field):  # before any text is made of the values
        p, c, s = (None if v is None else REDACTED for v in (p, c, s))
    return Example(place, _text(p), _text(c), _text(s))


def _text(value: Value | None) -> str | None:
    """A value cut to MAX_VALUE_CHARS, bodies decoded as UTF-8 (bad bytes replaced)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        text = value[: MAX_VALUE_CHARS * 4].decode("utf-8", "replace")
        if len(value) > MAX_VALUE_CHARS * 4 or len(text) > MAX_VALUE_CHARS:
            return text[:MAX_VALUE_CHARS] + f"… ({len(value)} bytes)"
        return text
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"
