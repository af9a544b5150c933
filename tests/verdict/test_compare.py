"""The comparison verdict: a field that differs beyond the old version's own noise fails the
change, noise alone passes, and the tests keep their error rates however often they are read
(seeded simulations)."""

from __future__ import annotations

import random

from controlplane.compare import FieldOutcome
from controlplane.compare._diff import Example
from controlplane.compare._tally import record
from controlplane.model import MAX_VERDICT_REASON, Outcome
from controlplane.model._limits import MAX_COMPARISON_TEXT
from controlplane.verdict import (
    ComparisonCounts,
    excess_e_value,
    judge_comparison,
    within_e_value,
)

ALPHA = 0.01
ENDPOINT = "GET prefix /"


def run(
    rates: dict[str, tuple[float, float, float]], requests: int, seed: int = 1, every: int = 1
) -> tuple[ComparisonCounts, list[Outcome]]:
    """Compared requests with, per field, the chance that only the candidate differs, only the
    noise does, and both do; the verdict after each `every` of them."""
    rng = random.Random(seed)
    counts = ComparisonCounts()
    outcomes = []
    for _ in range(requests):
        found = {}
        for field, (only_candidate, only_noise, both) in rates.items():
            draw = rng.random()
            if draw < only_candidate:
                found[field] = FieldOutcome(True, False, Example(field, "1", "2", "1"))
            elif draw < only_candidate + only_noise:
                found[field] = FieldOutcome(False, True, None)
            elif draw < only_candidate + only_noise + both:
                found[field] = FieldOutcome(True, True, Example(field, "1", "3", "2"))
        record(counts, ENDPOINT, "GET", "/item?id=1", found, examples=3)
        if counts.compared % every:
            continue
        verdict = judge_comparison(counts, threshold_pct=5, alpha=ALPHA, elapsed_s=1)
        outcomes.append(verdict.outcome)
        if verdict.outcome is not Outcome.INCONCLUSIVE:
            break
    return counts, outcomes


def test_a_price_changed_on_a_fifth_of_answers_fails_naming_it_with_examples() -> None:
    counts, outcomes = run({"$.at": (0, 0, 1.0), "$.price": (0.2, 0, 0)}, 1000)
    assert outcomes[-1] is Outcome.FAIL
    assert len(outcomes) < 250
    verdict = judge_comparison(counts, threshold_pct=5, alpha=ALPHA, elapsed_s=3)
    assert verdict.reason.startswith(f"$.price of {ENDPOINT} differs")
    assert verdict.comparison is not None
    [endpoint] = verdict.comparison.endpoints
    price = endpoint.fields[0]
    assert (price.field, price.failed) == ("$.price", True)
    assert len(price.examples) == 3 and price.examples[0].path == "/item?id=1"
    assert 0.1 < price.candidate_rate < 0.3 and price.noise_rate == 0
    at = next(f for f in endpoint.fields if f.field == "$.at")
    assert not at.failed and at.candidate_rate == at.noise_rate == 1.0


def test_differences_the_old_instances_share_pass() -> None:
    _, outcomes = run({"$.at": (0, 0, 1.0), "$.id": (0, 0, 1.0), "$.order": (0.1, 0.1, 0.3)}, 3000)
    assert outcomes[-1] is Outcome.PASS


def test_nothing_compared_is_inconclusive_not_a_pass() -> None:
    verdict = judge_comparison(ComparisonCounts(), threshold_pct=5, alpha=ALPHA, elapsed_s=0)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason == "no request compared yet"


def test_a_field_within_the_threshold_does_not_fail() -> None:
    _, outcomes = run({"$.price": (0.02, 0, 0)}, 3000)
    assert Outcome.FAIL not in outcomes


def test_a_harmless_candidate_among_noisy_fields_rarely_fails() -> None:
    """Twenty fields whose noise equals the candidate's differences (the null at its edge for
    a zero threshold: here the threshold is 5 points above): false fails stay under alpha."""
    noisy = {f"$.f{i}": (0.2, 0.2, 0.1) for i in range(20)}
    fails = sum(Outcome.FAIL in run(noisy, 400, seed=s, every=20)[1] for s in range(100))
    assert fails <= 2


def test_the_failing_test_holds_its_level_at_the_threshold() -> None:
    """At exactly the threshold (candidate 5 points above noise) the process crosses 1/alpha in
    at most about alpha of runs, checked after every request."""
    rng = random.Random(3)
    crossed = 0
    for _ in range(200):
        a = b = 0
        for n in range(1, 801):
            draw = rng.random()
            a += draw < 0.15
            b += 0.15 <= draw < 0.25
            if excess_e_value(a, b, n, 0.05) >= 1 / ALPHA:
                crossed += 1
                break
    assert crossed <= 4  # alpha = 1%: 2 expected at most; a seeded run, so it cannot flake


def test_passing_needs_evidence_and_grows_with_agreement() -> None:
    assert within_e_value(0, 0, 50, 0.05) < 1 / ALPHA
    assert within_e_value(0, 0, 200, 0.05) >= 1 / ALPHA
    assert within_e_value(20, 0, 200, 0.05) < within_e_value(0, 0, 200, 0.05)


def test_more_fields_than_tracked_never_pass() -> None:
    counts = ComparisonCounts()
    for i in range(400):
        found = {f"$.f{i}": FieldOutcome(False, True, None)}
        record(counts, ENDPOINT, "GET", "/", found, examples=0)
    verdict = judge_comparison(counts, threshold_pct=5, alpha=ALPHA, elapsed_s=1)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "more endpoints or fields than weir tracks" in verdict.reason
    assert verdict.comparison is not None
    assert verdict.comparison.endpoints[0].fields_left_out > 0


def test_a_field_named_by_a_huge_answer_still_fails_the_change_within_the_ledgers_bounds() -> None:
    # A field's path is made of the candidate's own keys (64 deep, 128 characters each): the
    # verdict cuts it rather than failing to be made, which would let such a candidate pass.
    field = "$" + "".join(f".{'k' * 128}" for _ in range(64))
    counts, outcomes = run({field: (0.5, 0, 0)}, 400)
    assert outcomes[-1] is Outcome.FAIL
    verdict = judge_comparison(counts, threshold_pct=5, alpha=ALPHA, elapsed_s=3)
    assert len(verdict.reason) <= MAX_VERDICT_REASON
    assert verdict.comparison is not None
    [shown] = verdict.comparison.endpoints[0].fields
    assert shown.failed and shown.field.startswith("$.kkk") and shown.field.endswith("…")
    assert len(shown.field) <= MAX_COMPARISON_TEXT
    assert all(len(e.field) <= MAX_COMPARISON_TEXT for e in shown.examples)
