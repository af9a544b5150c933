"""Each strategy as a list of stages: the activations each step asks for. Pure; dispatched once.

A stage names target activations for some instances; the planner turns the targets that differ
from the current state into changes, appended with the stage's RolloutStepped entry in one
batch. Stages are computed from what the rollout recorded when it started (its candidates, the
instances it replaces and their activations then), so they are the same after a restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controlplane.model import (
    MAX_WEIGHT,
    Activation,
    ActivationState,
    BlueGreen,
    Canary,
    Partial,
    RolloutState,
    Shadow,
    StageChange,
    StageRecord,
    State,
    format_duration,
)

PRECISION = 10
"""When old weights must be scaled, a canary's smallest step gets at least this much weight, so
that rounding weights to whole numbers moves its share by no more than a twentieth of itself."""


@dataclass(frozen=True, slots=True)
class Stage:
    label: str
    targets: tuple[tuple[str, Activation], ...]
    hold_s: float
    """The least time at this stage: the plan's bake, or its grace for the grace stage."""
    judged: bool = True
    """Wait for a passing verdict on each live or shadow change of this stage."""


def stages_of(rollout: RolloutState) -> list[Stage]:
    """Every stage of the rollout's plan, the grace period last if it has one."""
    match rollout.plan:
        case Canary(steps=steps):
            stages = _canary(rollout, steps)
        case Partial():
            stages = _partial(rollout)
        case BlueGreen(verify_in_shadow=verify, mirror_percent=percent):
            stages = ([_mirror(rollout, percent)] if verify else []) + [_switch(rollout)]
        case Shadow(mirror_percent=percent, steps=steps):
            stages = [_mirror(rollout, percent), *_canary(rollout, steps)]
        case _:
            raise TypeError(f"unknown plan {rollout.plan!r}")
    if rollout.plan.grace > 0 and rollout.replaced:
        grace = format_duration(rollout.plan.grace)
        label = f"grace {grace}: replaced instances inactive, then retired"
        stages.append(Stage(label, (), rollout.plan.grace, judged=False))
    return stages


def replaced_weights(rollout: RolloutState) -> list[int]:
    """The live weights of the replaced instances when the rollout started."""
    return [rollout.prior[r].weight or 0 for r in rollout.replaced]


def split(total: int, parts: int) -> list[int]:
    """`total` in whole weights over `parts` instances, each at least 1 and at most MAX_WEIGHT."""
    total = min(max(total, parts), MAX_WEIGHT * parts)
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def canary_weight(old_total: int, percent: float) -> int:
    """The new version's total weight that gives it `percent` of live traffic beside old_total."""
    if old_total <= 0:
        return 1
    return max(1, round(old_total * percent / (100 - percent)))


def rescale_factor(old_total: int, smallest: float, candidates: int) -> int:
    """1 if whole-number weights give the smallest step within a twentieth of its share; else
    what to multiply the old weights by so that they do."""
    if old_total <= 0 or smallest >= 100:
        return 1
    weight = max(canary_weight(old_total, smallest), candidates)
    share = 100 * weight / (weight + old_total)
    if abs(share - smallest) <= smallest / (2 * PRECISION):
        return 1
    need = max(PRECISION, candidates) * (100 - smallest) / (smallest * old_total)
    return max(1, min(math.ceil(need), MAX_WEIGHT // old_total))


def _canary(rollout: RolloutState, steps: tuple[float, ...]) -> list[Stage]:
    candidates = rollout.candidates
    bake = rollout.plan.bake
    weights = replaced_weights(rollout)
    stages: list[Stage] = []
    factor = rescale_factor(sum(weights), steps[0], len(candidates))
    if factor > 1:
        # Whole-number weights cannot give 1% beside an old instance of weight 1: scale the
        # old weights first. Shares do not move, so this stage is neither judged nor baked.
        weights = [w * factor for w in weights]
        stages.append(
            Stage(
                f"old weights x{factor} (shares unchanged)",
                tuple(
                    (r, Activation.live(w)) for r, w in zip(rollout.replaced, weights, strict=True)
                ),
                0.0,
                judged=False,
            )
        )
    old_total = sum(weights)
    new_weights: list[int] | None = None
    for percent in steps:
        if percent >= 100:
            break
        new_weights = split(canary_weight(old_total, percent), len(candidates))
        stages.append(Stage(f"{percent:g}%", _live(candidates, new_weights), bake))
    if new_weights is None:  # steps: [100]: go live beside the old version, then replace it
        new_weights = split(max(old_total, 1), len(candidates))
        stages.append(Stage("100%: new version live", _live(candidates, new_weights), bake))
    stages += [
        Stage(f"100%: {r} out", ((r, Activation.inactive()),), bake) for r in rollout.replaced
    ]
    return stages


def _partial(rollout: RolloutState) -> list[Stage]:
    """c1 live at r1's weight, r1 out, c2 live at r2's weight, r2 out, ..."""
    weights = replaced_weights(rollout)
    bake = rollout.plan.bake
    stages: list[Stage] = []
    for i in range(max(len(rollout.candidates), len(rollout.replaced))):
        if i < len(rollout.candidates):
            candidate = rollout.candidates[i]
            weight = weights[min(i, len(weights) - 1)] if weights else 1
            stages.append(
                Stage(f"{candidate} live", ((candidate, Activation.live(max(weight, 1))),), bake)
            )
        if i < len(rollout.replaced):
            old = rollout.replaced[i]
            stages.append(Stage(f"{old} out", ((old, Activation.inactive()),), bake))
    return stages


def _mirror(rollout: RolloutState, percent: float) -> Stage:
    return Stage(
        f"shadow {percent:g}%",
        tuple((c, Activation.shadow(percent)) for c in rollout.candidates),
        rollout.plan.bake,
    )


def _switch(rollout: RolloutState) -> Stage:
    """Green live and blue inactive in one stage: one batch, one route push."""
    weights = replaced_weights(rollout)
    if len(weights) == len(rollout.candidates) and all(weights):
        green = weights
    else:
        green = split(max(sum(weights), 1), len(rollout.candidates))
    off = tuple((r, Activation.inactive()) for r in rollout.replaced)
    return Stage("switch", _live(rollout.candidates, green) + off, rollout.plan.bake)


def _live(ids: tuple[str, ...], weights: list[int]) -> tuple[tuple[str, Activation], ...]:
    return tuple((i, Activation.live(w)) for i, w in zip(ids, weights, strict=True))


def is_judged_change(after: Activation) -> bool:
    """The evaluator judges changes that leave an instance with traffic (live or shadow)."""
    return after.state in (ActivationState.LIVE, ActivationState.SHADOW)


def takes_out_only(rollout: RolloutState, record: StageRecord) -> bool:
    """A step whose changes only take replaced instances out of traffic (a canary's last
    steps): the evaluator judges it on the new version's instances, which take their share."""
    return bool(record.changes) and all(
        change.after.state is ActivationState.INACTIVE and change.instance_id in rollout.replaced
        for change in record.changes
    )


def gated_change(rollout: RolloutState, record: StageRecord, change: StageChange) -> bool:
    """Whether a change of this step waits for a verdict (in a judged stage)."""
    return is_judged_change(change.after) or takes_out_only(rollout, record)


@dataclass(frozen=True, slots=True)
class StepEvaluation:
    """A rollout step taking replaced instance `instance_id` out (change `change_seq`), to be
    judged on the new version's live instances."""

    change_seq: int
    instance_id: str
    service: str
    candidates: tuple[str, ...]


def step_evaluations(state: State) -> list[StepEvaluation]:
    """Every current step of a rollout in progress that only takes replaced instances out and
    leaves the new version live: what the evaluator judges besides instances' own changes."""
    found = []
    for rollout in state.rollouts.values():
        record = rollout.current
        if not rollout.active or record is None:
            continue
        stages = stages_of(rollout)
        if not stages[record.stage].judged or not takes_out_only(rollout, record):
            continue
        live = tuple(
            c for c in rollout.candidates if state.instances[c].state is ActivationState.LIVE
        )
        if not live:
            continue
        for change in record.changes:
            if state.instances[change.instance_id].since_seq == change.seq:
                found.append(StepEvaluation(change.seq, change.instance_id, rollout.service, live))
    return found
