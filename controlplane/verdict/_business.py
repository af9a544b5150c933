"""with_objectives(): the 5xx and latency verdict of a change, joined with its objectives' and
its value -- what the evaluator records.

  the 5xx/latency verdict fails            -> fail (objectives and value attached)
  an objective shows harm                  -> fail, the objective's effect as the reason
  the 5xx/latency verdict passes, and every objective with a baseline passed or improved
                                           -> improvement if one improved, else pass
    ... unless the service asks for a value gate and the value's lower bound is below 0
  otherwise                                -> inconclusive, with the longest expected time

An objective without a baseline (no other live instance reports it) cannot be compared and
holds nothing up; one whose candidate has reported nothing yet does.
"""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.model import ObjectiveEvidence, ObjectiveOutcome, Outcome, ValueEstimate, Verdict


def with_objectives(
    verdict: Verdict,
    objectives: Sequence[ObjectiveEvidence],
    value: ValueEstimate | None,
    *,
    value_gate: bool = False,
) -> Verdict:
    attached = {"objectives": tuple(objectives), "value": value}
    if not objectives and not value_gate:
        return verdict.model_copy(update=attached)
    shown = "; ".join(o.shown() + f" ({o.outcome})" for o in objectives)
    worth = f"; value {_money(value)}" if value is not None else ""
    if verdict.outcome is Outcome.FAIL:
        return verdict.model_copy(update=attached)
    harmed = [o for o in objectives if o.outcome is ObjectiveOutcome.HARM]
    if harmed:
        return verdict.model_copy(
            update={**attached, "outcome": Outcome.FAIL, "reason": f"fail: {harmed[0].reason}"}
        )
    compared = [o for o in objectives if o.baseline is not None and o.baseline.requests > 0]
    pending = [o for o in compared if o.outcome is ObjectiveOutcome.INCONCLUSIVE]
    if verdict.outcome is Outcome.PASS and not pending:
        if value_gate and (value is None or value.low is None or value.low < 0):
            return verdict.model_copy(
                update={
                    **attached,
                    "outcome": Outcome.INCONCLUSIVE,
                    "reason": "inconclusive: the value gate waits for the lower bound of the net "
                    f"value to reach 0 ({_money(value)}); {shown}",
                }
            )
        improved = any(o.outcome is ObjectiveOutcome.IMPROVEMENT for o in compared)
        outcome = Outcome.IMPROVEMENT if improved else Outcome.PASS
        head = "improvement" if improved else "pass"
        reason = verdict.reason.removeprefix("pass: ")
        return verdict.model_copy(
            update={**attached, "outcome": outcome, "reason": f"{head}: {shown}{worth}; {reason}"}
        )
    expected = [o.expected_s_to_decision for o in pending]
    if verdict.outcome is Outcome.PASS:
        waits = [e for e in expected if e is not None]
        return verdict.model_copy(
            update={
                **attached,
                "outcome": Outcome.INCONCLUSIVE,
                "reason": "inconclusive: 5xx and latency pass; waiting on "
                + "; ".join(o.reason for o in pending),
                "expected_s_to_decision": max(waits) if len(waits) == len(expected) else None,
            }
        )
    return verdict.model_copy(
        update={**attached, "reason": f"{verdict.reason}; objectives: {shown or 'none'}{worth}"}
    )


def _money(value: ValueEstimate | None) -> str:
    return "-" if value is None else value.shown()
