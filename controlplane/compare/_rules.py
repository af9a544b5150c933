"""A service's `compare` section made ready to apply: which fields to ignore and which values
never to store. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode

from controlplane.model import Compare

ALWAYS_REDACTED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)
REDACTED = "<redacted>"
MAX_CACHED = 4096
"""Field names whose rule match is remembered, per service (fields come from hostile bodies)."""


class _Matcher:
    """Whether a field (as counted: `$.items[*].price`, `header:date`) falls under any of a set
    of rules: a rule names a field and everything inside it; `$..name` names a key at any depth."""

    def __init__(self, rules: tuple[str, ...]) -> None:
        self.exact = frozenset(r for r in rules if not r.startswith("$"))
        patterns = []
        for rule in rules:
            if rule.startswith("$.."):
                patterns.append(r"(?:\.|\[')" + re.escape(rule[3:]) + r"(?:'\])?(?=$|[.\[])")
            elif rule.startswith("$"):
                patterns.append("^" + re.escape(rule) + r"(?=$|[.\[])")
        self._pattern = re.compile("|".join(patterns)) if patterns else None
        self._cache: dict[str, bool] = {}

    def __call__(self, field: str) -> bool:
        if field in self.exact:
            return True
        if self._pattern is None or not field.startswith("$"):
            return False
        known = self._cache.get(field)
        if known is None:
            known = self._pattern.search(field) is not None
            if len(self._cache) < MAX_CACHED:
                self._cache[field] = known
        return known


@dataclass(frozen=True, slots=True)
class Rules:
    """One service's comparison settings, compiled."""

    spec: Compare
    headers: tuple[str, ...] = field(init=False)
    """Response headers compared, less those ignored."""
    ignored: _Matcher = field(init=False)
    redacted: _Matcher = field(init=False)
    redacted_query: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        ignored = _Matcher(self.spec.ignore)
        set_ = object.__setattr__
        set_(self, "ignored", ignored)
        set_(self, "headers", tuple(h for h in self.spec.headers if not ignored(f"header:{h}")))
        headers = tuple(f"header:{h}" for h in sorted(ALWAYS_REDACTED_HEADERS))
        set_(self, "redacted", _Matcher((*self.spec.redact, *headers)))
        queries = frozenset(r[6:] for r in self.spec.redact if r.startswith("query:"))
        set_(self, "redacted_query", queries)

    def shown_path(self, path: str) -> str:
        """The request's path and query with the values of redacted query parameters
        replaced."""
        base, sep, query = path.partition("?")
        if not sep or not self.redacted_query:
            return path
        pairs = parse_qsl(query, keep_blank_values=True)
        hidden = [(k, REDACTED if k in self.redacted_query else v) for k, v in pairs]
        return base + "?" + urlencode(hidden, quote_via=quote, safe="<>")
