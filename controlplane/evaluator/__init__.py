"""The evaluator: each change judged from Envoy's stats, harmful ones rolled back."""

from controlplane.evaluator._budget import BURN_ALERTS, Budget, BurnRate, budget_of
from controlplane.evaluator._business import BusinessJudge
from controlplane.evaluator._loop import ACTOR, Evaluation, Evaluator, Judge
from controlplane.evaluator._recent import RecentCounts, Sample
from controlplane.evaluator._series import CounterSeries, Increase

__all__ = [
    "ACTOR",
    "BURN_ALERTS",
    "Budget",
    "BurnRate",
    "BusinessJudge",
    "CounterSeries",
    "Evaluation",
    "Evaluator",
    "Increase",
    "Judge",
    "RecentCounts",
    "Sample",
    "budget_of",
]
