"""Hypothesis strategies for service files: documents near the schema (mostly plausible values,
sometimes junk in any place), their YAML, and YAML-ish text around it."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(),  # NaN and infinities included
    st.text(max_size=12),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def either(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(plausible, plausible, plausible, JUNK)


def fields(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A mapping with these fields (each value maybe junk) and, rarely, an unknown one."""
    base = st.fixed_dictionaries(
        {k: either(v) for k, v in required.items()},
        optional={k: either(v) for k, v in optional.items()},
    )
    extra = st.dictionaries(st.text(min_size=1, max_size=8), JUNK, max_size=1)
    return st.one_of(base, base, base, st.builds(lambda a, b: {**b, **a}, base, extra))


NAMES = st.from_regex(r"[a-z0-9]{1,6}(-[a-z0-9]{1,4}){0,2}", fullmatch=True)
DURATIONS = st.one_of(
    st.sampled_from(["500ms", "2s", "5m", "1h", "30d", "0s", " 3 s ", "1.5h"]),
    st.from_regex(r"[0-9]{1,5}(\.[0-9]{1,3})?(ms|s|m|h|d)", fullmatch=True),
    st.floats(min_value=0, max_value=10**7),
    st.integers(min_value=-5, max_value=10**7),
)
PERCENT = st.one_of(
    st.floats(min_value=-1, max_value=101), st.integers(min_value=-1, max_value=101)
)
RETRY_ON = st.sampled_from(
    ["5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
     "retriable-4xx", "refused-stream", "4xx"]
)  # fmt: skip
HEADERS = st.from_regex(r":?[a-zA-Z0-9-]{1,10}", fullmatch=True)
PATHS = st.from_regex(r"/?[a-z0-9/._-]{0,12}", fullmatch=True)

ROUTE = fields(
    {},
    {
        "match": fields(
            {},
            {
                "prefix": PATHS,
                "path": PATHS,
                "headers": st.dictionaries(HEADERS, st.text(max_size=8), max_size=2),
            },
        ),
        "timeout": DURATIONS,
        "retries": fields(
            {"attempts": st.integers(min_value=-1, max_value=12)},
            {"on": st.lists(RETRY_ON, max_size=3), "per_try_timeout": DURATIONS},
        ),
    },
)
STEPS = st.one_of(
    st.lists(PERCENT, max_size=5),
    st.lists(st.integers(min_value=1, max_value=99), max_size=4, unique=True).map(
        lambda steps: [*sorted(steps), 100]
    ),
)

SERVICE_DOCUMENTS = fields(
    {"name": NAMES},
    {
        "domains": st.lists(
            st.one_of(
                NAMES, st.from_regex(r"(\*\.)?[a-zA-Z0-9.-]{1,12}(:[0-9]{1,6})?", fullmatch=True)
            ),
            max_size=3,
        ),
        "routes": st.lists(ROUTE, max_size=3),
        "slo": fields(
            {},
            {
                "success_rate": PERCENT,
                "latency_p99_ms": st.floats(min_value=-1, max_value=10**5),
                "window": DURATIONS,
            },
        ),
        "risk": fields(
            {},
            {
                "cost_per_failed_request": st.floats(min_value=-1, max_value=100),
                "value_per_request": st.floats(min_value=-1, max_value=100),
            },
        ),
        "rollout": fields(
            {},
            {
                "strategy": st.sampled_from(
                    ["canary", "partial", "blue-green", "shadow", "big-bang"]
                ),
                "steps": STEPS,
                "bake": DURATIONS,
                "auto_rollback": st.booleans(),
                "grace": DURATIONS,
                "mirror_percent": PERCENT,
                "verify_in_shadow": st.booleans(),
            },
        ),
        "pinning": fields({}, {"header": HEADERS}),
    },
)
"""Service documents: a few valid, most refused somewhere, all of every shape."""


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _mutate(text: str, at: int, insert: str, cut: int) -> str:
    at %= len(text) + 1
    return text[:at] + insert + text[at + cut :]


YAML_TEXT = st.one_of(
    SERVICE_DOCUMENTS.map(_dump),
    st.builds(
        _mutate,
        SERVICE_DOCUMENTS.map(_dump),
        st.integers(min_value=0),
        st.text(alphabet=":-[]{}&*!|>'\"%@`#,? \n\t\\", max_size=3),
        st.integers(min_value=0, max_value=3),
    ),
    JUNK.map(_dump),
    st.text(max_size=80),
)
"""Service-file text: valid YAML of service documents, broken YAML, and plain noise."""
