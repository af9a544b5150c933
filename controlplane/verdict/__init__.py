"""Verdicts: whether one change made its instance worse, judged from counts by anytime-valid tests.

`judge` turns the counts accrued since a change (the changed instance's, and its baseline's: the
service's other live instances summed) into a Verdict -- pass, fail or inconclusive, with its
evidence. `extra_failures` is what the change has cost so far in failed requests, and
`split_mismatch` checks that the proxies split traffic as weir asked. `judge_comparison` judges a
change verified by comparing answers (a shadow of a service with `compare`) from the
comparator's counts. All are pure functions.
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
from controlplane.verdict._histogram import quantile_ms
from controlplane.verdict._judge import VerdictPolicy, allowed_error_rate, extra_failures, judge
from controlplane.verdict._objectives import ObjectivePolicy, judge_objective
from controlplane.verdict._objectives import decide as decide_objective
from controlplane.verdict._split import SplitCheck, split_mismatch

__all__ = [
    "MAX_E_VALUE",
    "ArmCounts",
    "ComparisonCounts",
    "EndpointCounts",
    "FieldCounts",
    "ObjectivePolicy",
    "SplitCheck",
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
    "share_e_value",
    "split_mismatch",
    "within_e_value",
]
