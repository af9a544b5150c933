"""Before a rollout starts: how long each of its judged steps should take to pass, at the traffic
the service had lately, if the new version is as good as the old. Pure.

A step passes once the evidence shows the new version no worse than its baseline by the
service's tolerance (`controlplane.verdict`); how long that takes depends on the traffic the
step gives it and on how often the service fails at all. When a step cannot be expected to pass
within the plan's `decide_within`, `refusal` says so and names the honest options: a longer
step, bigger steps, or going on regardless with the risk recorded (accept_risk).
"""

from __future__ import annotations

import math

from controlplane.model import (
    Activation,
    ActivationState,
    RolloutStarted,
    RolloutState,
    State,
    StepForecast,
    apply_event,
    format_duration,
    say_duration,
)
from controlplane.rollout._stages import stages_of
from controlplane.verdict import Traffic, VerdictPolicy, seconds_to_pass

REFERENCE_S = 600.0
"""The replaced version's record a last step is judged against: at least the step before."""
FIT_SHARE = 0.5
"""weir's default steps start at the smallest whose forecast takes at most this share of
decide_within: a forecast is an expected time, and the slowest twentieth of runs of a step takes
about twice as long (bench/README.md, evaluator_sim's rollout steps)."""


def forecast_steps(
    state: State, rollout: RolloutState, traffic: Traffic
) -> tuple[StepForecast, ...]:
    """Each judged step of `rollout` (just started, in `state`), in order."""
    spec = state.services[rollout.service]
    policy = VerdictPolicy(tolerance=spec.verdict.tolerance, warmup_s=spec.verdict.warmup)
    activations: dict[str, Activation] = {
        r.instance.id: r.activation for r in state.instances_of(rollout.service)
    }
    found = []
    for index, stage in enumerate(stages_of(rollout)):
        before = dict(activations)
        activations.update(stage.targets)
        if not stage.judged or not stage.targets:
            continue
        live = {i: a.weight or 0 for i, a in activations.items() if a.state is ActivationState.LIVE}
        total = sum(live.values())
        new = sum(w for i, w in live.items() if i in rollout.candidates)
        mirrored = max(
            (
                (a.mirror_percent or 0.0) / 100
                for i, a in activations.items()
                if i in rollout.candidates and a.state is ActivationState.SHADOW
            ),
            default=0.0,
        )
        if new and total:
            share, judged_share, baseline = new / total, new / total, new < total
        elif mirrored:
            share, judged_share, baseline = mirrored, mirrored / (1 + mirrored), True
        else:
            continue
        reference = None
        if not baseline:
            old_before = sum(
                a.weight or 0
                for i, a in before.items()
                if i not in rollout.candidates and a.state is ActivationState.LIVE
            )
            all_before = sum(
                a.weight or 0 for a in before.values() if a.state is ActivationState.LIVE
            )
            if all_before:
                reference = traffic.requests_per_s * old_before / all_before * REFERENCE_S
        seconds = seconds_to_pass(
            traffic,
            judged_share,
            spec.slo,
            policy,
            baseline=baseline,
            reference_requests=reference,
        )
        warming = any(
            before.get(c, Activation.inactive()).state
            not in (ActivationState.LIVE, ActivationState.SHADOW)
            and activations[c].state in (ActivationState.LIVE, ActivationState.SHADOW)
            for c in rollout.candidates
        )
        if seconds is not None and warming:
            seconds += policy.warmup_s
        found.append(
            StepForecast(
                stage=index,
                label=stage.label,
                share=share,
                seconds=seconds,
                within=seconds is not None and seconds <= rollout.plan.decide_within,
            )
        )
    return tuple(found)


def fit_default_steps(state: State, event: RolloutStarted, traffic: Traffic) -> RolloutStarted:
    """`event`, whose plan has weir's default steps (the operator named none), starting at the
    smallest step from which every step is forecast to pass within FIT_SHARE of decide_within
    at `traffic`; the steps it starts without are recorded in `left_out`, with their forecasts.
    A 1% step of a 100 requests/s service would take most of an hour to show the new version
    no worse: an operator wants the smallest blast radius that can be judged in time, not a
    rollout that stalls. Unchanged when no cut fits (the refusal then names the options)."""
    steps = getattr(event.plan, "steps", None)
    if not steps:
        return event
    limit = event.plan.decide_within * FIT_SHARE
    full_rollout, full = _forecast(state, event, traffic)
    asked = [stage.step for stage in stages_of(full_rollout)]
    for first in range(len(steps)):
        fitted = event.model_copy(
            update={"plan": event.plan.model_copy(update={"steps": tuple(steps[first:])})}
        )
        forecast = full if first == 0 else _forecast(state, fitted, traffic)[1]
        if all(f.seconds is not None and f.seconds <= limit for f in forecast):
            cut = {f"{percent:g}%" for percent in steps[:first]}
            left_out = tuple(f for f in full if asked[f.stage] in cut)
            return fitted.model_copy(update={"left_out": left_out}) if first else event
    return event


def _forecast(
    state: State, event: RolloutStarted, traffic: Traffic
) -> tuple[RolloutState, tuple[StepForecast, ...]]:
    started = apply_event(state, event, state.seq + 1).rollouts[event.rollout_id]
    return started, forecast_steps(state, started, traffic)


def refusal(
    rollout: RolloutState, forecast: tuple[StepForecast, ...], traffic: Traffic
) -> str | None:
    """Why this rollout should not start as planned (a step not expected to pass in time), with
    the options; None when every step is expected in time, or the plan accepts the risk."""
    slow = [f for f in forecast if not f.within]
    if not slow or rollout.plan.accept_risk:
        return None
    limit = rollout.plan.decide_within
    steps = " and ".join(
        (f"about {say_duration(f.seconds)}" if f.seconds is not None else "more than a month")
        + f" to pass step {f.stage + 1} ({f.label})"
        for f in slow
    )
    options = []
    longest = max((f.seconds for f in forecast if f.seconds is not None), default=None)
    if longest is not None and all(f.seconds is not None for f in slow):
        options.append(f"a longer step (--decide-within {_round_up(longest)})")
    steps_plan = getattr(rollout.plan, "steps", None)
    if steps_plan is not None:
        shares = [100 * f.share for f in forecast if f.within]
        bigger = [p for p in steps_plan if shares and p >= min(shares) - 1e-9]
        if bigger and bigger != list(steps_plan):
            options.append(f"bigger steps (--steps {','.join(f'{p:g}' for p in bigger)})")
    options.append(
        f"going on regardless (--accept-risk: a step still undecided after "
        f"{format_duration(limit)} goes on, the risk recorded)"
    )
    return (
        f"at the last minutes' traffic ({traffic.requests_per_s:.3g} requests/s, 5xx rate "
        f"{100 * traffic.error_rate:.2g}%), a new version as good as the old would take {steps}"
        f": more than the {format_duration(limit)} a step may take (decide_within). "
        f"Options: {'; '.join(options)}"
    )


def _round_up(seconds: float) -> str:
    """A duration to suggest: the next whole 5 minutes above `seconds` (hours beyond a day)."""
    minutes = 5 * math.ceil(seconds / 300)
    return f"{minutes}m" if minutes < 24 * 60 else f"{math.ceil(minutes / 60)}h"
