"""Bifurcated verification by comparing answers: the comparator `weir serve` runs, and the pure
comparison of three answers (the candidate's against two old instances') it counts with.

    Comparator         the listener Envoy mirrors compared requests to; its counts per change,
                       and the verdict on them (controlplane.verdict.judge_comparison)
    ComparatorLimits   its concurrency, rate and body-size caps
    Answer, differences, Rules
                       one instance's answer; which fields of three answers differ; a service's
                       ignore and redact rules, compiled

The comparison and the limits are pure; the comparator (aiohttp) loads when first named.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.compare._diff import Differences, FieldOutcome, differences
from controlplane.compare._fields import Answer, fields_of
from controlplane.compare._limits import ComparatorLimits
from controlplane.compare._rules import REDACTED, Rules

if TYPE_CHECKING:
    from controlplane.compare._comparator import Comparator
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(__name__, {"Comparator": "_comparator"})

__all__ = [
    "REDACTED",
    "Answer",
    "Comparator",
    "ComparatorLimits",
    "Differences",
    "FieldOutcome",
    "Rules",
    "differences",
    "fields_of",
]
