"""Rollouts: strategies as plans of single-instance changes with gates, driven from the ledger."""

from controlplane.rollout._commands import (
    BudgetGate,
    abort,
    active,
    pause,
    plan_for,
    promote,
    propose_start,
    resume,
    start,
)
from controlplane.rollout._driver import RolloutDriver
from controlplane.rollout._planner import (
    ACTOR,
    Action,
    Advance,
    Wait,
    failed_change,
    next_action,
    rollback_batch,
)
from controlplane.rollout._stages import (
    Stage,
    StepEvaluation,
    canary_weight,
    split,
    stages_of,
    step_evaluations,
)

__all__ = [
    "ACTOR",
    "Action",
    "Advance",
    "BudgetGate",
    "RolloutDriver",
    "Stage",
    "StepEvaluation",
    "Wait",
    "abort",
    "active",
    "canary_weight",
    "failed_change",
    "next_action",
    "pause",
    "plan_for",
    "promote",
    "propose_start",
    "resume",
    "rollback_batch",
    "split",
    "stages_of",
    "start",
    "step_evaluations",
]
