"""Verdicts: whether one change made its instance worse, judged from counts by anytime-valid tests.

`Evidence` gathers, interval by interval, what the changed instance and its baseline (the
service's other live instances) served; `judge` reads a Verdict off it -- pass, fail or
inconclusive, with its evidence. `Dispersions` is how a service's events come (one by one or in
clumps), which sets what counts as one piece of evidence. `extra_failures` is what the change has
cost so far in failed requests, `split_mismatch` checks that the proxies split traffic as weir
asked, and `seconds_to_pass` says how long a rollout step needs to pass. `judge_comparison`
judges a change verified by comparing answers (a shadow of a service with `compare`) from the
comparator's counts. All are pure.
"""

from controlplane.verdict._compare import (
    ArmCounts,
    ComparisonCounts,
    EndpointCounts,
    FieldCounts,
    excess_e_value,
    judge_comparison,
    within_e_value,
)
from controlplane.verdict._evidence import MAX_E_VALUE, rate_e_value, share_e_value
from controlplane.verdict._forecast import Traffic, seconds_to_pass
from controlplane.verdict._histogram import quantile_ms
from controlplane.verdict._judge import (
    Evidence,
    VerdictPolicy,
    allowed_error_rate,
    extra_failures,
    judge,
)
from controlplane.verdict._objectives import ObjectivePolicy, judge_objective
from controlplane.verdict._objectives import decide as decide_objective
from controlplane.verdict._split import SplitCheck, split_mismatch
from controlplane.verdict._streams import Dispersions
from controlplane.verdict._validate import InvalidCounts

__all__ = [
    "MAX_E_VALUE",
    "ArmCounts",
    "ComparisonCounts",
    "Dispersions",
    "EndpointCounts",
    "Evidence",
    "FieldCounts",
    "InvalidCounts",
    "ObjectivePolicy",
    "SplitCheck",
    "Traffic",
    "VerdictPolicy",
    "allowed_error_rate",
    "decide_objective",
    "excess_e_value",
    "extra_failures",
    "judge",
    "judge_comparison",
    "judge_objective",
    "quantile_ms",
    "rate_e_value",
    "seconds_to_pass",
    "share_e_value",
    "split_mismatch",
    "within_e_value",
]
