"""Rollouts: strategies as plans of single-instance changes with gates, driven from the ledger.

The planner and the stages are pure; the commands and the driver act through the controller
(and so the ledger's stores), so they load when first named.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.rollout._planner import (
    ACTOR,
    Action,
    Advance,
    Wait,
    failed_change,
    grace_action,
    grace_ends,
    in_grace,
    next_action,
    rollback_batch,
)
from controlplane.rollout._stages import (
    Stage,
    StepEvaluation,
    asked_steps,
    canary_weight,
    progress,
    split,
    stages_of,
    step_evaluations,
)

if TYPE_CHECKING:
    from controlplane.rollout._commands import (
        abort,
        active,
        pause,
        plan_for,
        promote,
        propose_start,
        resume,
        start,
        undo,
    )
    from controlplane.rollout._driver import RolloutDriver
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            "abort": "_commands",
            "active": "_commands",
            "pause": "_commands",
            "plan_for": "_commands",
            "promote": "_commands",
            "propose_start": "_commands",
            "resume": "_commands",
            "start": "_commands",
            "undo": "_commands",
            "RolloutDriver": "_driver",
        },
    )

__all__ = [
    "ACTOR",
    "Action",
    "Advance",
    "RolloutDriver",
    "Stage",
    "StepEvaluation",
    "Wait",
    "abort",
    "active",
    "asked_steps",
    "canary_weight",
    "failed_change",
    "grace_action",
    "grace_ends",
    "in_grace",
    "next_action",
    "pause",
    "plan_for",
    "progress",
    "promote",
    "propose_start",
    "resume",
    "rollback_batch",
    "split",
    "stages_of",
    "start",
    "step_evaluations",
    "undo",
]
